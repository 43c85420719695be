@presence
Feature: Presence between Lync and Skype users, both ways
  Lync availability is read by band, never by exact value, and becomes a consumer status;
  consumer statuses become the values Lync clients publish (PROTOCOL.md §4.1, §6 reqs 10, 11).
  Changes ride NOTIFY, or BENOTIFY where the subscriber takes it, which is never answered
  (req 12); formats follow what the subscriber accepts (req 9).

  Background:
    Given the Lync user "alice@contoso.com"
    And the Skype user "bob@contoso.com"

  @req-10 @req-12
  Scenario Outline: Lync availability <value> reaches Skype as <status>
    Given the Lync user "alice@contoso.com" is at availability <from>
    And the Skype user "bob@contoso.com" has added the Lync contact "alice@contoso.com", who accepted
    When the Lync user "alice@contoso.com" changes availability to <value>
    Then the Skype user "bob@contoso.com" sees "alice@contoso.com" as <status>
    And the canonical trace matches its golden

    Examples: published values
      | value | status  | from  |
      | 3500  | Online  | 18500 |
      | 6500  | Busy    | 18500 |
      | 9500  | Busy    | 18500 |
      | 12500 | Away    | 18500 |
      | 15500 | Away    | 18500 |
      | 18500 | Offline | 3500  |

    Examples: band edges
      | value | status  | from  |
      | 2999  | Offline | 3500  |
      | 3000  | Online  | 18500 |
      | 4499  | Online  | 18500 |
      | 4500  | Online  | 18500 |
      | 5999  | Online  | 18500 |
      | 6000  | Busy    | 3500  |
      | 8999  | Busy    | 3500  |
      | 9000  | Busy    | 3500  |
      | 11999 | Busy    | 3500  |
      | 12000 | Away    | 3500  |
      | 14999 | Away    | 3500  |
      | 15000 | Away    | 3500  |
      | 17999 | Away    | 3500  |
      | 18000 | Offline | 3500  |

  @req-11 @req-12
  Scenario Outline: Skype status <status> reaches Lync as <value>
    Given the Skype user "bob@contoso.com" is <from>
    And the Lync user "alice@contoso.com" has added the Skype contact "bob(contoso.com)@msn.com" and the Skype user "bob@contoso.com" accepted
    When the Skype user "bob@contoso.com" changes status to <status>
    Then the Lync user "alice@contoso.com" sees "bob(contoso.com)@msn.com" at availability <value>
    And the canonical trace matches its golden

    Examples:
      | status    | value | from    |
      | Online    | 3500  | Offline |
      | Away      | 15500 | Online  |
      | Busy      | 6500  | Online  |
      | Invisible | 18500 | Online  |
      | Offline   | 18500 | Online  |

  @req-9 @req-11
  Scenario: A Lync watcher that accepts only PIDF is served PIDF
    When the Lync user "alice@contoso.com" adds the Skype contact "bob(contoso.com)@msn.com" accepting only PIDF
    Then the request is answered 200
    And the Skype user "bob@contoso.com" receives a contact request from "alice@contoso.com"
    When the Skype user "bob@contoso.com" accepts the contact request from "alice@contoso.com"
    Then the Lync user "alice@contoso.com" sees "bob(contoso.com)@msn.com" at availability 3500
    When the Skype user "bob@contoso.com" changes status to Busy
    Then the Lync user "alice@contoso.com" sees "bob(contoso.com)@msn.com" at availability 6500
    And the canonical trace matches its golden

  @req-9 @req-10
  Scenario: The gateway reads PIDF when the Lync pool serves it
    Given the Lync pool serves presence as PIDF
    And the Skype user "bob@contoso.com" has added the Lync contact "alice@contoso.com", who accepted
    When the Lync user "alice@contoso.com" changes availability to 12500
    Then the Skype user "bob@contoso.com" sees "alice@contoso.com" as Away
    And the canonical trace matches its golden
