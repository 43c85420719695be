@privacy
Feature: Privacy: who may reach and see a Lync user from Skype
  The Lync user's "Contacts not using Lync" choice and privacy relationships decide what a
  Skype user gets (PROTOCOL.md §1.3 step 5, §4.2). Invitations are always delivered; IM from a
  Skype user who is not a contact is refused under "Allow invites but block all other
  communications"; a blocked Skype user sees Offline and nothing else.

  Background:
    Given the Lync user "alice@contoso.com"
    And the Skype user "bob@contoso.com"
    And the Skype user "carol@outlook.com"

  @req-5 @req-6
  Scenario Outline: Invitations reach the Lync user under "<mode>"
    Given the Lync user "alice@contoso.com" sets "Contacts not using Lync" to "<mode>"
    When the Skype user "bob@contoso.com" adds the Lync contact "alice@contoso.com"
    Then the request is answered 200
    And the Lync user "alice@contoso.com" receives a contact request from "bob(contoso.com)@msn.com"
    And the Lync user "alice@contoso.com" has an unacknowledged subscriber "bob(contoso.com)@msn.com"
    And the canonical trace matches its golden

    Examples:
      | mode                                              |
      | Allow invites but block all other communications |
      | Allow anyone to contact me                        |

  @req-6
  Scenario Outline: An IM from a Skype user who is not a contact is <outcome> under "<mode>"
    Given the Lync user "alice@contoso.com" sets "Contacts not using Lync" to "<mode>"
    When the Skype user "bob@contoso.com" sends the IM "Are you there?" to "alice@contoso.com"
    Then the IM is <outcome>
    And the Lync user "alice@contoso.com" receives <received>
    And the canonical trace matches its golden

    Examples:
      | mode                                              | outcome          | received                                                      |
      | Allow invites but block all other communications | refused with 403 | no IM                                                         |
      | Allow anyone to contact me                        | accepted         | the IM "Are you there?" from "bob(contoso.com)@msn.com" |

  @req-6
  Scenario: Once the Lync user accepts, the Skype contact's IM is delivered under "Allow invites but block all other communications"
    Given the Lync user "alice@contoso.com" sets "Contacts not using Lync" to "Allow invites but block all other communications"
    And the Skype user "bob@contoso.com" has added the Lync contact "alice@contoso.com", who accepted
    When the Skype user "bob@contoso.com" sends the IM "Thanks for adding me" to "alice@contoso.com"
    Then the IM is accepted
    And the Lync user "alice@contoso.com" receives the IM "Thanks for adding me" from "bob(contoso.com)@msn.com"
    And the canonical trace matches its golden

  @req-8 @security
  Scenario: A blocked Skype user's IM is refused even under "Allow anyone to contact me"
    When the Skype user "bob@contoso.com" adds the Lync contact "alice@contoso.com"
    Then the Lync user "alice@contoso.com" has an unacknowledged subscriber "bob(contoso.com)@msn.com"
    When the Lync user "alice@contoso.com" blocks the contact request from "bob(contoso.com)@msn.com"
    Then the Skype user "bob@contoso.com" sees "alice@contoso.com" as Offline
    When the Skype user "bob@contoso.com" sends the IM "Please unblock me" to "alice@contoso.com"
    Then the IM is refused with 403
    And the Lync user "alice@contoso.com" receives no IM
    And the canonical trace matches its golden

  @req-7 @security
  Scenario: No presence leaks to a Skype user before the Lync user accepts
    Given the Lync user "alice@contoso.com" is at availability 6500
    When the Skype user "bob@contoso.com" adds the Lync contact "alice@contoso.com"
    Then the Skype user "bob@contoso.com" sees "alice@contoso.com" with a question mark
    When the Lync user "alice@contoso.com" changes availability to 9500
    And the Lync user "alice@contoso.com" changes availability to 3500
    Then no NOTIFY to "bob@contoso.com" on the consumer leg has shown "alice@contoso.com" reachable
    And the Skype user "bob@contoso.com" sees "alice@contoso.com" with a question mark
    And the canonical trace matches its golden

  @req-8
  Scenario: No presence leaks to a blocked Skype user while another contact sees every change
    When the Skype user "bob@contoso.com" adds the Lync contact "alice@contoso.com"
    Then the Lync user "alice@contoso.com" has an unacknowledged subscriber "bob(contoso.com)@msn.com"
    When the Lync user "alice@contoso.com" blocks the contact request from "bob(contoso.com)@msn.com"
    Then the Skype user "bob@contoso.com" sees "alice@contoso.com" as Offline
    Given the Skype user "carol@outlook.com" has added the Lync contact "alice@contoso.com", who accepted
    When the Lync user "alice@contoso.com" changes availability to 6500
    Then the Skype user "carol@outlook.com" sees "alice@contoso.com" as Busy
    When the Lync user "alice@contoso.com" changes availability to 15500
    Then the Skype user "carol@outlook.com" sees "alice@contoso.com" as Away
    And no NOTIFY to "bob@contoso.com" on the consumer leg has shown "alice@contoso.com" reachable
    And the Skype user "bob@contoso.com" sees "alice@contoso.com" as Offline
    And the canonical trace matches its golden
