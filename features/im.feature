@im
Feature: Instant messages between Lync and Skype users through the gateway
  A Lync IM session (INVITE carrying the first message in ms-text-format, PROTOCOL.md §1.5)
  becomes pager-mode MESSAGE on the consumer leg (§9.2), and back. Skype users are Microsoft
  accounts: consumer-domain accounts keep their address on the Lync side, custom-domain ones
  are decorated as local(domain)@msn.com (§5.1). contoso.com holds both a Lync user and a
  Skype account named bob: that collision is part of the test.

  Background:
    Given the Lync user "alice@contoso.com"
    And the Lync user "bob@contoso.com"
    And the Skype user "bob@contoso.com"
    And the Skype user "carol@outlook.com"

  @req-1 @req-13 @req-14
  Scenario: Lync user sends an IM to a Skype user with a custom-domain Microsoft account
    When the Lync user "alice@contoso.com" sends the IM "Hello" to "bob(contoso.com)@msn.com"
    Then the IM is accepted
    And the Skype user "bob@contoso.com" receives the IM "Hello" from "alice@contoso.com"
    And the Lync user "bob@contoso.com" receives no IM
    And the canonical trace matches its golden

  @req-2 @req-13
  Scenario: Lync user sends an IM to a Skype user with an outlook.com Microsoft account
    When the Lync user "alice@contoso.com" sends the IM "Hi Carol" to "carol@outlook.com"
    Then the IM is accepted
    And the Skype user "carol@outlook.com" receives the IM "Hi Carol" from "alice@contoso.com"
    And the canonical trace matches its golden

  @req-4
  Scenario: Skype user with a custom-domain account sends an IM to a Lync user
    When the Skype user "bob@contoso.com" sends the IM "Hi Alice" to "alice@contoso.com"
    Then the IM is accepted
    And the Lync user "alice@contoso.com" receives the IM "Hi Alice" from "bob(contoso.com)@msn.com"
    And the Lync user "bob@contoso.com" receives no IM
    And the canonical trace matches its golden

  @req-30
  Scenario: An IM to an unknown Microsoft account is refused with 404 and diagnostics
    When the Lync user "alice@contoso.com" sends the IM "Anyone there?" to "nobody@outlook.com"
    Then the IM is refused with 404
    And the refusal carries ms-diagnostics 4005 with no source in its public copy
    And the canonical trace matches its golden

  @req-3
  Scenario: The %28…%29 escaped form reaches the same Skype user as the parenthesised form
    When the Lync user "alice@contoso.com" sends the IM "Escaped hello" to "bob%28contoso.com%29@msn.com"
    Then the IM is accepted
    And the Skype user "bob@contoso.com" receives the IM "Escaped hello" from "alice@contoso.com"
    And the canonical trace matches its golden

  @req-31
  Scenario: A Lync user of a domain not provisioned for federation is refused with 403
    Given the Lync user "mallory@northwind.example"
    When the Lync user "mallory@northwind.example" sends the IM "Let me in" to "carol@outlook.com"
    Then the IM is refused with 403
    And the Skype user "carol@outlook.com" receives no IM
    And the canonical trace matches its golden

  @req-4 @req-15
  Scenario: A conversation goes back and forth in one Lync IM session
    When the Lync user "alice@contoso.com" sends the IM "Hello Bob" to "bob(contoso.com)@msn.com"
    Then the Skype user "bob@contoso.com" receives the IM "Hello Bob" from "alice@contoso.com"
    When the Skype user "bob@contoso.com" sends the IM "Hi Alice!" to "alice@contoso.com"
    Then the IM is accepted
    And the Lync user "alice@contoso.com" receives the IM "Hi Alice!" from "bob(contoso.com)@msn.com"
    When the Lync user "alice@contoso.com" sends the IM "How are you?" to "bob(contoso.com)@msn.com"
    Then the IM is accepted
    And the Skype user "bob@contoso.com" receives the IM "How are you?" from "alice@contoso.com"
    And the Lync user "alice@contoso.com" has this conversation with "bob(contoso.com)@msn.com":
      """
      me: Hello Bob
      them: Hi Alice!
      me: How are you?
      """
    And the Skype user "bob@contoso.com" has this conversation with "alice@contoso.com":
      """
      them: Hello Bob
      me: Hi Alice!
      them: How are you?
      """
    And the canonical trace matches its golden

  @req-17
  Scenario: The Lync user ends the IM session with BYE
    When the Lync user "alice@contoso.com" sends the IM "Talk later" to "carol@outlook.com"
    Then the IM is accepted
    When the Lync user "alice@contoso.com" ends the conversation
    Then the session is closed with 200
    And the canonical trace matches its golden
