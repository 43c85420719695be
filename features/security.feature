@security
Feature: Security probes: the gateway refuses what a hostile or broken peer claims
  The enterprise face takes requests from the Lync Edge only for Lync users of the
  provisioned enterprise domains (PROTOCOL.md §6 req 31). A request arriving there that claims
  a Skype identity, in a consumer domain or in the decorated form the gateway itself writes
  (§5.1), is forged: the gateway refuses it with 403 and nothing reaches the consumer leg. In
  these scenarios the simulated Edge sends as that identity, which is what "the Lync user
  carol@outlook.com" means here. The other probes live with their flows: no presence for a
  watcher who was not authorised and no IM from a blocked contact (privacy.feature, also
  tagged @security).

  Background:
    Given the Lync user "alice@contoso.com"
    And the Skype user "bob@contoso.com"
    And the Skype user "carol@outlook.com"

  @req-31
  Scenario: An IM on the enterprise face claiming a consumer-domain Skype identity is refused with 403
    Given the Lync user "carol@outlook.com"
    When the Lync user "carol@outlook.com" sends the IM "It is me, Carol" to "bob(contoso.com)@msn.com"
    Then the IM is refused with 403
    And the Skype user "bob@contoso.com" receives no IM
    And the canonical trace matches its golden

  @req-31
  Scenario: An IM on the enterprise face claiming the decorated form of a Skype identity is refused with 403
    Given the Lync user "bob(contoso.com)@msn.com"
    When the Lync user "bob(contoso.com)@msn.com" sends the IM "It is me, Bob" to "carol@outlook.com"
    Then the IM is refused with 403
    And the Skype user "carol@outlook.com" receives no IM
    And the canonical trace matches its golden

  @req-31
  Scenario: A call on the enterprise face claiming a Skype identity is refused with 403
    Given the Lync user "carol@outlook.com"
    When the Lync user "carol@outlook.com" calls "bob(contoso.com)@msn.com"
    Then the call is refused with 403
    And the canonical trace matches its golden
