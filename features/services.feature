@services
Feature: Create services
  Pods do not find each other by name. A Service gives a set of pods one stable name and
  address in the cluster's DNS: until the `redis` Service exists the web pod cannot reach
  redis, and as soon as it exists the same pod counts every visit. The app keeps its redis
  connection once it has one, so the pod also looks the name up each time: from the Service's
  creation on, within seconds, every lookup gives the Service's address (a DNS server still
  answering from a cached "no such name" would show here). A NodePort Service opens the web app
  on every node of the cluster.

  Background:
    Given the redis pod is running
    And the web pod is running

  Scenario: The web pod cannot resolve redis before its Service exists
    When I ask the web pod for its page from its node
    Then the answer is the error "Error -2 connecting to redis:6379. Name or service not known."

  Scenario: The same web pod counts visits as soon as the redis Service is created
    When I ask the web pod for its page from its node
    Then the answer is the error "Error -2 connecting to redis:6379. Name or service not known."
    When I create the redis Service
    And I ask the web pod for its page from its node again and again, and it looks up redis each time
    Then within 5 seconds the web pod answers "Hello Container World! I have been seen 1 times."
    And every visit after it is counted
    And within 5 seconds redis resolves in the web pod to the redis Service's address, every time after

  Scenario: The web pod counts visits once the redis Service exists
    Given the redis Service exists
    When I ask the web pod for its page 2 times from its node
    Then the answers are "Hello Container World! I have been seen 1 times." then "Hello Container World! I have been seen 2 times."

  Scenario: The web Service answers on every node, and the counter continues across nodes
    Given the redis Service exists
    And the web NodePort Service exists
    When I ask for the page on every node's address
    Then every node answers with the page
    And the counter goes up by exactly one per request
