@change
Feature: Change the cluster without an outage
  The lab so far checked a cluster as it is; a cluster also changes while it serves: its nodes
  are upgraded, kube-proxy changes mode, the container runtime restarts, an operator applies a
  new CoreDNS or CNI. Each can drop requests: a drain evicts pods, and if more go at once than
  the app can spare, too few are left to answer; a restarting kube-proxy may flush a node's
  rules before it writes them again; a Service's endpoints may still list a pod that is gone.
  Here the app runs in its final form, its three web pods spread over the workers and guarded
  by a PodDisruptionBudget that keeps two available, and traffic asks every node all along: 250
  requests a second in all, each node's NodePort in turn (at least 200 a second is required). The
  chapter proves that no request failed, that never fewer than two web pods were ready, that
  the counter never went backwards, that every web pod that went away was first asked to shut
  down (a pod killed outright cuts off the requests it is answering, even when none happened to
  be in flight), that every node is Ready afterwards, and that the change did what it promised.
  The upgrade keeps redis, a bare pod no controller would recreate, in place while its node's
  kubelet is replaced: `kubectl drain` refuses a bare pod without `--force`, and forced it
  would delete redis and lose the count. The chapter proves redis's container survived (same
  container, restartCount 0): the very thing an in-place kubelet upgrade is known to break
  (kubernetes/kubernetes#129385). These scenarios run only when asked for a change.

  Background:
    Given the redis pod is running
    And the redis Service exists
    And 3 web pods run under a Deployment spread over the workers, at least 2 always available
    And the web NodePort Service exists

  Scenario: The user's change drops no request
    When I run the change given on the command line while traffic flows on every node
    Then the traffic asked at least 200 times a second
    And no request failed during the change
    And there were never fewer than 2 ready web pods during the change
    And the counter never went backwards during the change
    And every web pod that went away was shut down gracefully
    And every node is Ready
    And the change itself succeeded

  Scenario: Restarting every node's container runtime keeps every pod running
    When I restart every node's container runtime, node by node, while traffic flows on every node
    Then the traffic asked at least 200 times a second
    And no request failed during the change
    And there were never fewer than 2 ready web pods during the change
    And the counter never went backwards during the change
    And every web pod that went away was shut down gracefully
    And every node is Ready
    And the change itself succeeded
    And every pod kept its container, with no restart

  Scenario: Upgrading the cluster one minor release in place drops no request
    When I upgrade the cluster one minor release in place while traffic flows on every node
    Then the traffic asked at least 200 times a second
    And no request failed during the change
    And there were never fewer than 2 ready web pods during the change
    And the counter never went backwards during the change
    And every web pod that went away was shut down gracefully
    And every node is Ready
    And the change itself succeeded
    And no kubelet was ever newer than the API server
    And the API server and every kubelet report the new release
    And cluster DNS runs the new release's CoreDNS
    And the redis pod kept its container, with no restart, while its node's kubelet was upgraded

  Scenario: Switching kube-proxy from iptables to nftables node by node drops no request
    When I switch every node's kube-proxy from iptables to nftables, node by node, while traffic flows on every node
    Then the traffic asked at least 200 times a second
    And no request failed during the change
    And there were never fewer than 2 ready web pods during the change
    And the counter never went backwards during the change
    And every web pod that went away was shut down gracefully
    And every node is Ready
    And the change itself succeeded
    And every node's kube-proxy serves from nftables, no rule of it left in iptables
