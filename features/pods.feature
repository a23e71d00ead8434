@pods
Feature: Create pods
  A pod is the smallest thing Kubernetes runs: one or more containers that share an address.
  The scheduler places each pod on a worker node, and that node's container runtime runs its
  container, as `docker ps` on the node showed in the seed.

  Scenario Outline: The <pod> pod runs on a worker node, in that node's container runtime
    When I create the <pod> pod
    Then the <pod> pod is running on a worker node
    And the <pod> pod's container runs in that node's container runtime

    Examples:
      | pod   |
      | redis |
      | web   |
