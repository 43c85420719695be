@im
Feature: Instant messages between Lync and Skype users through the gateway
  A Lync IM session (INVITE carrying the first message in ms-text-format, PROTOCOL.md §1.5)
  becomes pager-mode MESSAGE on the consumer leg (§9.2), and back. Skype users are Microsoft
  accounts: consumer-domain accounts keep their address on the Lync side, custom-domain ones
  are decorated as local(domain)@msn.com (§5.1). contoso.com holds both a Lync user and a
  Skype account named bob: that collision is part of the test. The exact wire forms are in
  scenarios/dialects/flows.md ("IM sessions"). In IM texts, \r \n \t \\ and \u{…} stand for
  the characters they name; a transcript line `Lync: …` is an IM the Lync user wrote.

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
    And the Lync transcript of "alice@contoso.com" with "bob(contoso.com)@msn.com" and the Skype transcript of "bob@contoso.com" with "alice@contoso.com" both read:
      """
      Lync: Hello
      """
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
    And the Lync transcript of "alice@contoso.com" with "bob(contoso.com)@msn.com" and the Skype transcript of "bob@contoso.com" with "alice@contoso.com" both read:
      """
      Lync: Hello Bob
      Skype: Hi Alice!
      Lync: How are you?
      """
    And the canonical trace matches its golden

  @req-17
  Scenario: The Lync user ends the IM session with BYE
    When the Lync user "alice@contoso.com" sends the IM "Talk later" to "carol@outlook.com"
    Then the IM is accepted
    When the Lync user "alice@contoso.com" ends the conversation
    Then the session is closed with 200
    And the Lync transcript of "alice@contoso.com" with "carol@outlook.com" and the Skype transcript of "carol@outlook.com" with "alice@contoso.com" both read:
      """
      Lync: Talk later
      """
    And the canonical trace matches its golden

  @req-17
  Scenario: An IM after the Lync user ended the session starts a new session
    When the Skype user "carol@outlook.com" sends the IM "Are you there?" to "alice@contoso.com"
    Then the Lync user "alice@contoso.com" receives the IM "Are you there?" from "carol@outlook.com"
    When the Lync user "alice@contoso.com" ends the conversation
    Then the session is closed with 200
    When the Skype user "carol@outlook.com" sends the IM "Hello again" to "alice@contoso.com"
    Then the IM is accepted
    And the Lync user "alice@contoso.com" receives the IM "Hello again" from "carol@outlook.com"
    And the Lync transcript of "alice@contoso.com" with "carol@outlook.com" and the Skype transcript of "carol@outlook.com" with "alice@contoso.com" both read:
      """
      Skype: Are you there?
      Skype: Hello again
      """
    And the canonical trace matches its golden

  @req-15
  Scenario Outline: A Lync IM written as <format> reaches the Skype user as its plain text, once
    Given the Lync user "alice@contoso.com" sends the IM "Hi" to "carol@outlook.com"
    When the Lync user "alice@contoso.com" sends the IM "<text>" to "carol@outlook.com" as <format>
    Then the IM is accepted
    And the Skype user "carol@outlook.com" receives the IM "<text>" from "alice@contoso.com"
    And the Lync transcript of "alice@contoso.com" with "carol@outlook.com" and the Skype transcript of "carol@outlook.com" with "alice@contoso.com" both read:
      """
      Lync: Hi
      Lync: <text>
      """
    And the canonical trace matches its golden

    Examples:
      | format                | text                                     |
      | text/plain            | Plain with font information              |
      | text/html             | 5 < 6 & 'quotes' stay <b>literal</b>     |
      | multipart/alternative | Both parts: <i>one</i> & the same text   |

  @req-15
  Scenario: A Skype IM that looks like HTML is escaped in the HTML alternative Lync shows
    Given the Lync user "alice@contoso.com" sends the IM "Hi" to "carol@outlook.com"
    When the Skype user "carol@outlook.com" sends the IM "<script>alert(\"hi\")</script> & <b>not bold</b>" to "alice@contoso.com"
    Then the IM is accepted
    And the Lync user "alice@contoso.com" receives the IM "<script>alert(\"hi\")</script> & <b>not bold</b>" from "carol@outlook.com"
    And the Lync transcript of "alice@contoso.com" with "carol@outlook.com" and the Skype transcript of "carol@outlook.com" with "alice@contoso.com" both read:
      """
      Lync: Hi
      Skype: <script>alert("hi")</script> & <b>not bold</b>
      """
    And the canonical trace matches its golden

  @req-16
  Scenario: Lync typing reaches the Skype user as isComposing, active then idle
    Given the Lync user "alice@contoso.com" sends the IM "Hi" to "carol@outlook.com"
    When the Lync user "alice@contoso.com" starts typing to "carol@outlook.com"
    Then the request is answered 200
    And the Skype user "carol@outlook.com" sees "alice@contoso.com" typing
    When the Lync user "alice@contoso.com" stops typing to "carol@outlook.com"
    Then the request is answered 200
    And the Skype user "carol@outlook.com" sees "alice@contoso.com" idle
    And the canonical trace matches its golden

  @req-16
  Scenario: Skype typing reaches the Lync user as KeyboardActivity in the open session
    Given the Lync user "alice@contoso.com" sends the IM "Hi" to "carol@outlook.com"
    When the Skype user "carol@outlook.com" starts typing to "alice@contoso.com"
    Then the request is answered 200
    And the Lync user "alice@contoso.com" sees "carol@outlook.com" typing
    When the Skype user "carol@outlook.com" stops typing to "alice@contoso.com"
    Then the request is answered 200
    And the Lync user "alice@contoso.com" sees "carol@outlook.com" idle
    And the canonical trace matches its golden

  @req-16
  Scenario: Skype typing before any conversation is answered and not carried
    When the Skype user "carol@outlook.com" starts typing to "alice@contoso.com"
    Then the request is answered 200
    And the Lync user "alice@contoso.com" sees no typing from "carol@outlook.com"
    And the canonical trace matches its golden

  @req-13 @req-15
  Scenario Outline: <script> text crosses both ways intact, as a first message and in the session
    When the Lync user "alice@contoso.com" sends the IM "<text>" to "bob(contoso.com)@msn.com"
    Then the Skype user "bob@contoso.com" receives the IM "<text>" from "alice@contoso.com"
    When the Skype user "bob@contoso.com" sends the IM "<text>" to "alice@contoso.com"
    Then the IM is accepted
    And the Lync user "alice@contoso.com" receives the IM "<text>" from "bob(contoso.com)@msn.com"
    When the Lync user "alice@contoso.com" sends the IM "<text>" to "bob(contoso.com)@msn.com"
    Then the IM is accepted
    And the Lync transcript of "alice@contoso.com" with "bob(contoso.com)@msn.com" and the Skype transcript of "bob@contoso.com" with "alice@contoso.com" both read:
      """
      Lync: <text>
      Skype: <text>
      Lync: <text>
      """
    And the canonical trace matches its golden

    Examples:
      # Inside a table Gherkin reads \\ as one backslash: \\u{301} reaches the step as \u{301}.
      | script         | text                                  |
      | Emoji          | 😀 👍🏽 👩‍💻 🇫🇷                           |
      | Right-to-left  | مرحبا بالعالم – שלום עולם             |
      | CJK            | 你好，世界。こんにちは。안녕하세요   |
      | Combining-mark | Cafe\\u{301} n\\u{303}o Z\\u{335}\\u{30c}a |
      | Multi-line     | first line\\r\\nsecond line\\r\\n\\r\\nfourth |

  @req-13 @req-15
  Scenario Outline: A 10 KB IM crosses whole, over TCP on the consumer leg, from <sender>
    Given the Lync user "alice@contoso.com" sends the IM "Hi" to "carol@outlook.com"
    When the <sender> user "<from>" sends an IM of 10240 bytes to "<to>"
    Then the IM is accepted
    And the <receiver> user "<to>" receives that IM from "<from>"
    And the consumer leg carried that IM over TCP
    And the canonical trace matches its golden

    Examples:
      | sender | from              | to                | receiver |
      | Lync   | alice@contoso.com | carol@outlook.com | Skype    |
      | Skype  | carol@outlook.com | alice@contoso.com | Lync     |

  @req-13 @req-15
  Scenario: An empty IM is delivered once, as a first message and in the session
    When the Skype user "carol@outlook.com" sends the IM "" to "alice@contoso.com"
    Then the IM is accepted
    And the Lync user "alice@contoso.com" receives the IM "" from "carol@outlook.com"
    When the Lync user "alice@contoso.com" sends the IM "" to "carol@outlook.com"
    Then the IM is accepted
    And the Skype user "carol@outlook.com" receives the IM "" from "alice@contoso.com"
    And the Lync transcript of "alice@contoso.com" with "carol@outlook.com" and the Skype transcript of "carol@outlook.com" with "alice@contoso.com" both read:
      """
      Skype:
      Lync:
      """
    And the canonical trace matches its golden

  @req-29
  Scenario: An IM to a Skype user who is offline is refused with 480
    Given the Skype user "carol@outlook.com" is Offline
    When the Lync user "alice@contoso.com" sends the IM "Still up?" to "carol@outlook.com"
    Then the IM is refused with 480
    And the Skype user "carol@outlook.com" receives no IM
    And the canonical trace matches its golden

  @req-17 @req-29
  Scenario: The Skype user goes offline mid-conversation: 480, the gateway ends the session, the next IM starts a new one
    When the Lync user "alice@contoso.com" sends the IM "One" to "carol@outlook.com"
    Then the IM is accepted
    When the Skype user "carol@outlook.com" changes status to Offline
    And the Lync user "alice@contoso.com" sends the IM "Two" to "carol@outlook.com"
    Then the IM is refused with 480
    And the Lync user "alice@contoso.com" sees the conversation with "carol@outlook.com" ended
    When the Skype user "carol@outlook.com" changes status to Online
    And the Lync user "alice@contoso.com" sends the IM "Three" to "carol@outlook.com"
    Then the IM is accepted
    And the Lync transcript of "alice@contoso.com" with "carol@outlook.com" and the Skype transcript of "carol@outlook.com" with "alice@contoso.com" both read:
      """
      Lync: One
      Lync: Three
      """
    And the canonical trace matches its golden

  Scenario: A Skype IM to a Lync user in Do Not Disturb is refused with 486 and delivered after
    Given the Lync user "alice@contoso.com" is at availability 9500
    When the Skype user "carol@outlook.com" sends the IM "Urgent?" to "alice@contoso.com"
    Then the IM is refused with 486
    And the Lync user "alice@contoso.com" receives no IM
    When the Lync user "alice@contoso.com" changes availability to 3500
    And the Skype user "carol@outlook.com" sends the IM "Now?" to "alice@contoso.com"
    Then the IM is accepted
    And the Lync transcript of "alice@contoso.com" with "carol@outlook.com" and the Skype transcript of "carol@outlook.com" with "alice@contoso.com" both read:
      """
      Skype: Now?
      """
    And the canonical trace matches its golden

  @req-17
  Scenario: An IM in a dialog the gateway does not know is refused with 481 and the next IM starts a new session
    When the Lync user "alice@contoso.com" sends the IM "Stale" to "carol@outlook.com" in a dialog the gateway does not know
    Then the IM is refused with 481
    And the Skype user "carol@outlook.com" receives no IM
    When the Lync user "alice@contoso.com" sends the IM "Fresh" to "carol@outlook.com"
    Then the IM is accepted
    And the Lync transcript of "alice@contoso.com" with "carol@outlook.com" and the Skype transcript of "carol@outlook.com" with "alice@contoso.com" both read:
      """
      Lync: Fresh
      """
    And the canonical trace matches its golden

  @req-17
  Scenario: After the Lync client restarts, the gateway's 481 leads to a new session and the IM arrives once
    When the Skype user "carol@outlook.com" sends the IM "Before" to "alice@contoso.com"
    Then the Lync user "alice@contoso.com" receives the IM "Before" from "carol@outlook.com"
    When the Lync user "alice@contoso.com" restarts the client
    And the Skype user "carol@outlook.com" sends the IM "After" to "alice@contoso.com"
    Then the IM is accepted
    And the Lync user "alice@contoso.com" receives the IM "After" from "carol@outlook.com"
    And the Lync transcript of "alice@contoso.com" with "carol@outlook.com" and the Skype transcript of "carol@outlook.com" with "alice@contoso.com" both read:
      """
      Skype: Before
      Skype: After
      """
    And the canonical trace matches its golden

  @req-15
  Scenario: Lync ink in the session is refused with 415 and the session goes on
    Given the Lync user "alice@contoso.com" sends the IM "Hi" to "carol@outlook.com"
    When the Lync user "alice@contoso.com" sends "application/x-ms-ink" content to "carol@outlook.com"
    Then the IM is refused with 415
    When the Lync user "alice@contoso.com" sends the IM "In words, then" to "carol@outlook.com"
    Then the IM is accepted
    And the Lync transcript of "alice@contoso.com" with "carol@outlook.com" and the Skype transcript of "carol@outlook.com" with "alice@contoso.com" both read:
      """
      Lync: Hi
      Lync: In words, then
      """
    And the canonical trace matches its golden

  Scenario: A Skype image is refused with 415
    When the Skype user "carol@outlook.com" sends "image/gif" content to "alice@contoso.com"
    Then the IM is refused with 415
    And the Lync user "alice@contoso.com" receives no IM
    And the canonical trace matches its golden

  Scenario: An IM the Lync pool's filter blocks is refused with 606 and Warning 309, and the next one is delivered
    Given the Lync pool's IM filter blocks messages containing "http://"
    When the Skype user "carol@outlook.com" sends the IM "See http://example.test/x" to "alice@contoso.com"
    Then the IM is refused with 606
    And the refusal carries Warning 309
    And the Lync user "alice@contoso.com" receives no IM
    When the Skype user "carol@outlook.com" sends the IM "Never mind" to "alice@contoso.com"
    Then the IM is accepted
    When the Skype user "carol@outlook.com" sends the IM "Again: http://example.test/y" to "alice@contoso.com"
    Then the IM is refused with 606
    And the refusal carries Warning 309
    And the Lync transcript of "alice@contoso.com" with "carol@outlook.com" and the Skype transcript of "carol@outlook.com" with "alice@contoso.com" both read:
      """
      Skype: Never mind
      """
    And the canonical trace matches its golden

  @req-4 @req-15
  Scenario: A conversation of 200 alternating IMs keeps its order and loses nothing
    When the Lync user "alice@contoso.com" writing to "bob(contoso.com)@msn.com" and the Skype user "bob@contoso.com" writing to "alice@contoso.com" exchange 200 alternating IMs
    Then both transcripts hold the exchanged IMs in order
    And the enterprise leg carried 1 INVITE request, each answered 200
    And the enterprise leg carried 199 MESSAGE requests, each answered 200
    And the consumer leg carried 200 MESSAGE requests, each answered 200
    And the canonical trace matches its golden
