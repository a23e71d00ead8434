@rolling_update
Feature: Update the web app without an outage
  A rolling update replaces pods a few at a time: a new pod starts and becomes ready before an
  old one is stopped, so the Service always has ready pods to send requests to. Moving web from
  1.0 to 2.0 this way keeps three pods available, never runs more than four, and no visitor
  sees an error. The ReplicationController is updated the way `kubectl rolling-update` did it;
  a Deployment does the same on the server side. A pod is scaled away once its controller asks
  for fewer pods than it has: a Deployment counts its surge in ReplicaSet sizes, so a new pod
  may start a moment before the old ReplicaSet marks its surplus pod for deletion.

  Background:
    Given the redis pod is running
    And the redis Service exists
    And the web NodePort Service exists

  Scenario Outline: Moving web from 1.0 to 2.0 under a <controller> drops no request
    Given 3 web pods of version 1.0 run under a <controller>
    When I roll the web pods to version 2.0 while traffic flows on every node
    Then no request failed during the update
    And there were never more than 4 web pods, not counting pods shutting down or scaled away
    And there were never fewer than 3 ready web pods
    And all 3 web pods run version 2.0
    And every answer after the update comes from 2.0 and names its pod's hostname
    And the counter never went backwards
    And answers after the update come from all 3 pods

    Examples:
      | controller            |
      | ReplicationController |
      | Deployment            |
