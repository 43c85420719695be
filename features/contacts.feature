@contacts
Feature: Contacts and authorisation between Lync and Skype users through the gateway
  A Lync user adds a Skype user by Microsoft account (PROTOCOL.md §1.2); a Skype user adds a
  Lync user by SIP URI (§1.3). Either side's request is a presence subscription that stays
  pending until the other side answers. Pool-internal operations (setContact,
  setContainerMembers, setSubscribers) are simulated on the Lync side; what crosses the gateway
  is the subscription traffic of scenarios/dialects/flows.md.

  Background:
    Given the Lync user "alice@contoso.com"
    And the Skype user "bob@contoso.com"
    And the Skype user "carol@outlook.com"

  @req-2
  Scenario Outline: A Lync user adds a Skype contact whose Microsoft account is in <domain>
    Given the Skype user "<account>"
    When the Lync user "alice@contoso.com" adds the Skype contact "<account>"
    Then the request is answered 200
    And the Lync user "alice@contoso.com" sees "<account>" as pending
    And the Skype user "<account>" receives a contact request from "alice@contoso.com"
    When the Skype user "<account>" accepts the contact request from "alice@contoso.com"
    Then the Lync user "alice@contoso.com" sees "<account>" at availability 3500
    And the canonical trace matches its golden

    Examples:
      | domain      | account           |
      | live.com    | dave@live.com     |
      | hotmail.com | erin@hotmail.com  |
      | outlook.com | carol@outlook.com |
      | msn.com     | frank@msn.com     |

  @req-1 @req-4
  Scenario: A Lync user adds a Skype contact with a custom-domain Microsoft account in its decorated form
    When the Lync user "alice@contoso.com" adds the Skype contact "bob(contoso.com)@msn.com"
    Then the request is answered 200
    And the Lync user "alice@contoso.com" sees "bob(contoso.com)@msn.com" as pending
    And the Skype user "bob@contoso.com" receives a contact request from "alice@contoso.com"
    When the Skype user "bob@contoso.com" accepts the contact request from "alice@contoso.com"
    Then the Lync user "alice@contoso.com" sees "bob(contoso.com)@msn.com" at availability 3500
    And the canonical trace matches its golden

  @req-3
  Scenario: The escaped decorated form adds the same Skype contact
    When the Lync user "alice@contoso.com" adds the Skype contact "bob%28contoso.com%29@msn.com"
    Then the request is answered 200
    And the Skype user "bob@contoso.com" receives a contact request from "alice@contoso.com"
    And the canonical trace matches its golden

  @req-8
  Scenario Outline: A Lync user adds a Skype contact to the group <group> as <relationship>
    When the Lync user "alice@contoso.com" adds the Skype contact "carol@outlook.com" to the group "<group>" as "<relationship>"
    Then the request is answered 200
    And the Skype user "carol@outlook.com" receives a contact request from "alice@contoso.com"
    When the Skype user "carol@outlook.com" adds the Lync contact "alice@contoso.com"
    Then the Skype user "carol@outlook.com" sees "alice@contoso.com" as <seen>
    And the Lync user "alice@contoso.com" receives no contact request
    And the canonical trace matches its golden

    Examples:
      | group    | relationship       | seen    |
      | Family   | Friends and Family | Online  |
      | Team     | Workgroup          | Online  |
      | Partners | Colleagues         | Online  |
      | Vendors  | External Contacts  | Online  |
      | Spam     | Blocked Contacts   | Offline |

  @req-5 @req-7
  Scenario: A Skype user's contact request reaches the Lync user as a pending subscriber on the New tab
    When the Skype user "bob@contoso.com" adds the Lync contact "alice@contoso.com"
    Then the request is answered 200
    And the Lync user "alice@contoso.com" has an unacknowledged subscriber "bob(contoso.com)@msn.com"
    And the Lync user "alice@contoso.com" receives a contact request from "bob(contoso.com)@msn.com"
    And the Skype user "bob@contoso.com" sees "alice@contoso.com" with a question mark
    And the canonical trace matches its golden

  @req-5
  Scenario: With the add alert turned off the request waits without an alert
    Given the Lync user "alice@contoso.com" turns off "Tell me when someone adds me to his or her contact list"
    When the Skype user "carol@outlook.com" adds the Lync contact "alice@contoso.com"
    Then the request is answered 200
    And the Lync user "alice@contoso.com" has an unacknowledged subscriber "carol@outlook.com"
    And the Lync user "alice@contoso.com" receives no contact request
    And the Skype user "carol@outlook.com" sees "alice@contoso.com" with a question mark
    And the canonical trace matches its golden

  @req-7 @req-10
  Scenario: The Lync user accepts and the Skype user sees real presence
    Given the Lync user "alice@contoso.com" is at availability 6500
    When the Skype user "bob@contoso.com" adds the Lync contact "alice@contoso.com"
    Then the Skype user "bob@contoso.com" sees "alice@contoso.com" with a question mark
    When the Lync user "alice@contoso.com" accepts the contact request from "bob(contoso.com)@msn.com"
    Then the Lync user "alice@contoso.com" has an acknowledged subscriber "bob(contoso.com)@msn.com"
    And the Skype user "bob@contoso.com" sees "alice@contoso.com" as Busy
    And the canonical trace matches its golden

  @req-7
  Scenario: The Lync user ignores the request and the Skype user keeps the question mark
    When the Skype user "bob@contoso.com" adds the Lync contact "alice@contoso.com"
    Then the Skype user "bob@contoso.com" sees "alice@contoso.com" with a question mark
    When the Lync user "alice@contoso.com" ignores the contact request from "bob(contoso.com)@msn.com"
    Then the Lync user "alice@contoso.com" has an acknowledged subscriber "bob(contoso.com)@msn.com"
    And the Skype user "bob@contoso.com" sees "alice@contoso.com" with a question mark
    And the canonical trace matches its golden

  @req-8
  Scenario: The Lync user blocks the request and the Skype user sees Offline
    When the Skype user "bob@contoso.com" adds the Lync contact "alice@contoso.com"
    Then the Skype user "bob@contoso.com" sees "alice@contoso.com" with a question mark
    When the Lync user "alice@contoso.com" blocks the contact request from "bob(contoso.com)@msn.com"
    Then the Skype user "bob@contoso.com" sees "alice@contoso.com" as Offline
    And the canonical trace matches its golden

  Scenario: The Skype user declines and the Lync user never gets presence
    When the Lync user "alice@contoso.com" adds the Skype contact "carol@outlook.com"
    Then the Skype user "carol@outlook.com" receives a contact request from "alice@contoso.com"
    When the Skype user "carol@outlook.com" declines the contact request from "alice@contoso.com"
    Then the Lync user "alice@contoso.com" sees the subscription to "carol@outlook.com" end with reason "rejected"
    And the canonical trace matches its golden

  Scenario: A Lync user removes a Skype contact and the subscription ends on the consumer leg
    Given the Lync user "alice@contoso.com" has added the Skype contact "carol@outlook.com" and the Skype user "carol@outlook.com" accepted
    When the Lync user "alice@contoso.com" removes the contact "carol@outlook.com"
    Then the request is answered 200
    And the Lync user "alice@contoso.com" sees the subscription to "carol@outlook.com" end with reason "timeout"
    And the Skype user "carol@outlook.com" is no longer watched by "alice@contoso.com"
    And the canonical trace matches its golden

  Scenario: A Skype user removes a Lync contact and the subscription ends on the enterprise leg
    Given the Skype user "bob@contoso.com" has added the Lync contact "alice@contoso.com", who accepted
    When the Skype user "bob@contoso.com" removes the contact "alice@contoso.com"
    Then the request is answered 200
    And the Skype user "bob@contoso.com" sees the subscription to "alice@contoso.com" end with reason "timeout"
    And the Lync user "alice@contoso.com" is no longer watched by "bob(contoso.com)@msn.com"
    And the canonical trace matches its golden

  @req-12
  Scenario: A Lync user's refreshed subscription carries the current state again
    Given the Lync user "alice@contoso.com" has added the Skype contact "carol@outlook.com" and the Skype user "carol@outlook.com" accepted
    When the Skype user "carol@outlook.com" changes status to Away
    Then the Lync user "alice@contoso.com" sees "carol@outlook.com" at availability 15500
    When the Lync user "alice@contoso.com" refreshes the subscription to "carol@outlook.com"
    Then the request is answered 200
    And the Lync user "alice@contoso.com" is sent the state of "carol@outlook.com" again
    And the Lync user "alice@contoso.com" sees "carol@outlook.com" at availability 15500
    And the canonical trace matches its golden

  Scenario: A Skype user's refreshed subscription carries the current state again
    Given the Skype user "bob@contoso.com" has added the Lync contact "alice@contoso.com", who accepted
    When the Skype user "bob@contoso.com" refreshes the subscription to "alice@contoso.com"
    Then the request is answered 200
    And the Skype user "bob@contoso.com" is sent the state of "alice@contoso.com" again
    And the Skype user "bob@contoso.com" sees "alice@contoso.com" as Online
    And the canonical trace matches its golden

  Scenario: A subscription that is not refreshed expires on both legs
    When the Skype user "bob@contoso.com" adds the Lync contact "alice@contoso.com" for 2 seconds
    Then the request is answered 200
    And the Skype user "bob@contoso.com" sees "alice@contoso.com" with a question mark
    And the Skype user "bob@contoso.com" sees the subscription to "alice@contoso.com" end with reason "timeout"
    And the Lync user "alice@contoso.com" is no longer watched by "bob(contoso.com)@msn.com"
    And the canonical trace matches its golden

  @req-31
  Scenario: A Lync user not enabled for public IM connectivity cannot add a Skype contact
    Given the Lync user "erin@contoso.com" who is not enabled for public IM connectivity
    When the Lync user "erin@contoso.com" adds the Skype contact "carol@outlook.com"
    Then the request is answered 403
    And the refusal carries ms-diagnostics 90001 with no source in its public copy
    And the Skype user "carol@outlook.com" receives no contact request
    And the canonical trace matches its golden

  @req-31
  Scenario: A Skype user cannot add a Lync user who is not enabled for public IM connectivity
    Given the Lync user "erin@contoso.com" who is not enabled for public IM connectivity
    When the Skype user "bob@contoso.com" adds the Lync contact "erin@contoso.com"
    Then the request is answered 403
    And the Lync user "erin@contoso.com" receives no contact request
    And the canonical trace matches its golden

  Scenario: A Skype user's search finds an enabled Lync user
    When the Skype user "bob@contoso.com" searches for "alice@contoso.com"
    Then the request is answered 200
    And the canonical trace matches its golden

  @req-31
  Scenario: A Skype user's search finds no match in a domain not provisioned for federation
    When the Skype user "bob@contoso.com" searches for "mallory@northwind.example"
    Then the request is answered 404
    And the canonical trace matches its golden

  @req-31
  Scenario: A Skype user's search does not reach a Lync user not enabled for public IM connectivity
    Given the Lync user "erin@contoso.com" who is not enabled for public IM connectivity
    When the Skype user "bob@contoso.com" searches for "erin@contoso.com"
    Then the request is answered 403
    And the canonical trace matches its golden

  Scenario: A Skype identity without a Microsoft account cannot federate
    Given the Skype user "echo.legacy@skype.com" who has no Microsoft account
    When the Skype user "echo.legacy@skype.com" adds the Lync contact "alice@contoso.com"
    Then the request is answered 403
    And the Lync user "alice@contoso.com" receives no contact request
    And the Lync user "alice@contoso.com" has no subscriber "echo.legacy(skype.com)@msn.com"
    And the canonical trace matches its golden
