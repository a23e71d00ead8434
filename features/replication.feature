@replication
Feature: Scale pods with a ReplicationController
  A ReplicationController keeps a number of pods running. It counts every pod its selector
  matches, including pods created before it, so the web pod already running is adopted and
  only the missing ones are created.

  Background:
    Given the redis pod is running
    And the web pod is running

  Scenario: The ReplicationController adopts the web pod and creates only the missing two
    When I create the web ReplicationController with 3 replicas
    Then 3 web pods are running
    And the web pod is owned by the ReplicationController
    And the ReplicationController created exactly 2 pods
