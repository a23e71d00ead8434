@cluster
Feature: Prepare the lab environment
  The lab runs on a cluster of one control-plane node and several worker nodes, like the
  seed's controller and three workers. Before anything is deployed every node must be Ready,
  and the control plane keeps itself for running the cluster: it takes no workload. The
  cluster's DNS service, which gives every Service its name, answers pods.

  Scenario: Every node of the cluster is Ready
    Given the lab cluster
    Then every node is Ready
    And there are at least 2 worker nodes

  Scenario: The control-plane node takes no workload
    Given the lab cluster
    Then every control-plane node refuses ordinary pods

  Scenario: The API server and every kubelet report their versions
    Given the lab cluster
    Then the API server reports a Kubernetes version
    And every node's kubelet reports a version the API server supports

  Scenario: The cluster's DNS service answers
    Given the web pod is running
    Then the cluster's DNS service has ready endpoints
    And the web pod resolves kubernetes.default to the kubernetes Service's address
