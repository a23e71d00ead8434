@clear
Feature: Clear the environment
  What was created can be deleted: the services, the ReplicationController and the pods.
  Deleting a ReplicationController also deletes the pods it owns.

  Scenario: Deleting the services, the ReplicationController and the pods leaves nothing behind
    Given the redis pod is running
    And the web pod is running
    And the redis Service exists
    And the web NodePort Service exists
    And the web ReplicationController runs 3 replicas
    When I delete the services, the ReplicationController and the pods
    Then nothing of the lab is left
