@audio
Feature: Audio calls between Lync and Skype users through the gateway, with real media
  A Lync call offer is multipart/alternative (an ICEv6 fallback part and an ICE v19 part),
  RTP/SAVP with SDES keys and MS-ICE2 candidates (PROTOCOL.md §1.6, §2); the consumer leg is a
  single plain RTP/AVP SDP (§9.2). The gateway is a back-to-back user agent: it answers ICE
  as an ICE-lite agent on the Lync leg, keys SRTP afresh per leg, renumbers payload types and
  relays real RTP both ways. The wire forms are in scenarios/dialects/flows.md ("Audio calls").
  Every packet count below is checked where it was received, on both legs; the canonical trace
  carries one summary line per RTP stream and step.

  Background:
    Given the Lync user "alice@contoso.com"
    And the Skype user "bob@contoso.com"
    And the Skype user "carol@outlook.com"

  @req-18 @req-19 @req-20 @req-23 @req-32 @req-17
  Scenario: Lync user calls a Skype user, both talk, the Lync user hangs up
    When the Lync user "alice@contoso.com" calls "bob(contoso.com)@msn.com"
    Then the Skype user "bob@contoso.com" is ringing
    When the Skype user "bob@contoso.com" answers the call
    Then the call is up with SILK/16000 on the Lync leg and SILK_WB_V3/16000 on the consumer leg
    When the Lync user "alice@contoso.com" speaks for 25 packets
    Then the Skype user "bob@contoso.com" hears those 25 packets without loss
    When the Skype user "bob@contoso.com" speaks for 25 packets
    Then the Lync user "alice@contoso.com" hears those 25 packets without loss
    When the Lync user "alice@contoso.com" hangs up
    Then the call has ended on both legs
    And the canonical trace matches its golden

  @req-18 @req-19 @req-20 @req-23 @req-32 @req-17
  Scenario: Skype user calls a Lync user, both talk, the Skype user hangs up
    When the Skype user "carol@outlook.com" calls "alice@contoso.com"
    Then the Lync user "alice@contoso.com" is ringing
    When the Lync user "alice@contoso.com" answers the call
    Then the call is up with SILK/16000 on the Lync leg and SILK_WB_V3/16000 on the consumer leg
    When the Skype user "carol@outlook.com" speaks for 25 packets
    Then the Lync user "alice@contoso.com" hears those 25 packets without loss
    When the Lync user "alice@contoso.com" speaks for 25 packets
    Then the Skype user "carol@outlook.com" hears those 25 packets without loss
    When the Skype user "carol@outlook.com" hangs up
    Then the call has ended on both legs
    And the canonical trace matches its golden

  @req-17
  Scenario: The Skype user hangs up a call the Lync user placed
    Given the Lync user "alice@contoso.com" is in a call with "carol@outlook.com"
    When the Skype user "carol@outlook.com" hangs up
    Then the call has ended on both legs
    And the canonical trace matches its golden

  @req-17
  Scenario: The Lync user hangs up a call the Skype user placed
    Given the Skype user "carol@outlook.com" is in a call with "alice@contoso.com"
    When the Lync user "alice@contoso.com" hangs up
    Then the call has ended on both legs
    And the canonical trace matches its golden

  @req-29
  Scenario: The Lync caller cancels before the Skype user answers
    When the Lync user "alice@contoso.com" calls "carol@outlook.com"
    Then the Skype user "carol@outlook.com" is ringing
    When the Lync user "alice@contoso.com" cancels the call
    Then the call is refused with 487
    And the Skype user "carol@outlook.com" is no longer ringing
    And the canonical trace matches its golden

  @req-29
  Scenario: The Skype caller cancels before the Lync user answers
    When the Skype user "carol@outlook.com" calls "alice@contoso.com"
    Then the Lync user "alice@contoso.com" is ringing
    When the Skype user "carol@outlook.com" cancels the call
    Then the call is refused with 487
    And the Lync user "alice@contoso.com" is no longer ringing
    And the canonical trace matches its golden

  @req-29
  Scenario: A Skype user already in a call is busy
    Given the Skype user "carol@outlook.com" is busy in another call
    When the Lync user "alice@contoso.com" calls "carol@outlook.com"
    Then the call is refused with 486
    And the canonical trace matches its golden

  @req-29
  Scenario: A Lync user already in a call is busy
    Given the Lync user "alice@contoso.com" is busy in another call
    When the Skype user "carol@outlook.com" calls "alice@contoso.com"
    Then the call is refused with 486
    And the canonical trace matches its golden

  @req-29
  Scenario: The Skype user declines the call
    When the Lync user "alice@contoso.com" calls "carol@outlook.com"
    Then the Skype user "carol@outlook.com" is ringing
    When the Skype user "carol@outlook.com" declines the call
    Then the call is refused with 603
    And the canonical trace matches its golden

  @req-29
  Scenario: The Lync user declines the call
    When the Skype user "carol@outlook.com" calls "alice@contoso.com"
    Then the Lync user "alice@contoso.com" is ringing
    When the Lync user "alice@contoso.com" declines the call
    Then the call is refused with 603
    And the canonical trace matches its golden

  @req-29
  Scenario: A Skype user who does not answer gives 480 after the ring timeout
    Given the Skype user "carol@outlook.com" does not answer calls
    When the Lync user "alice@contoso.com" calls "carol@outlook.com"
    Then the call is refused with 480
    And the canonical trace matches its golden

  @req-29
  Scenario: A call to an Offline Skype user gives 480 at once
    Given the Skype user "carol@outlook.com" is Offline
    When the Lync user "alice@contoso.com" calls "carol@outlook.com"
    Then the call is refused with 480
    And the Skype user "carol@outlook.com" is not ringing
    And the canonical trace matches its golden

  @req-28
  Scenario: The Lync user holds and resumes the call
    Given the Lync user "alice@contoso.com" is in a call with "carol@outlook.com"
    When the Lync user "alice@contoso.com" puts the call on hold
    Then the Skype user "carol@outlook.com" sees the call held
    When the Skype user "carol@outlook.com" speaks for 10 packets
    Then the Lync user "alice@contoso.com" hears nothing
    When the Lync user "alice@contoso.com" resumes the call
    Then the Skype user "carol@outlook.com" sees the call resumed
    When the Skype user "carol@outlook.com" speaks for 25 packets
    Then the Lync user "alice@contoso.com" hears those 25 packets without loss
    And the canonical trace matches its golden

  @req-28
  Scenario: The Skype user holds and resumes the call
    Given the Lync user "alice@contoso.com" is in a call with "carol@outlook.com"
    When the Skype user "carol@outlook.com" puts the call on hold
    Then the Lync user "alice@contoso.com" sees the call held
    When the Skype user "carol@outlook.com" resumes the call
    Then the Lync user "alice@contoso.com" sees the call resumed
    When the Lync user "alice@contoso.com" speaks for 25 packets
    Then the Skype user "carol@outlook.com" hears those 25 packets without loss
    And the canonical trace matches its golden

  @req-22
  Scenario: DTMF digits from the Lync user reach the Skype user as RFC 4733 events
    Given the Lync user "alice@contoso.com" is in a call with "carol@outlook.com"
    When the Lync user "alice@contoso.com" presses "1 2 3 #"
    Then the Skype user "carol@outlook.com" receives the digits "1 2 3 #"
    And the telephone-event payload type is the same in both directions on each leg
    And the canonical trace matches its golden

  @req-22
  Scenario: DTMF digits from the Skype user reach the Lync user as RFC 4733 events
    Given the Skype user "carol@outlook.com" is in a call with "alice@contoso.com"
    When the Skype user "carol@outlook.com" presses "9 * 0"
    Then the Lync user "alice@contoso.com" receives the digits "9 * 0"
    And the canonical trace matches its golden

  @req-21
  Scenario: A Lync device that cannot encrypt media is refused with 488 and 52017
    Given the Lync user "alice@contoso.com" on a device without media encryption
    When the Lync user "alice@contoso.com" calls "carol@outlook.com"
    Then the call is refused with 488
    And the refusal carries ms-client-diagnostics 52017
    And the Skype user "carol@outlook.com" is not ringing
    And the canonical trace matches its golden

  @req-21
  Scenario: A Skype call to a Lync device that cannot encrypt media is refused with 488
    Given the Lync user "alice@contoso.com" on a device without media encryption
    When the Skype user "carol@outlook.com" calls "alice@contoso.com"
    Then the call is refused with 488
    And the canonical trace matches its golden

  @req-18
  Scenario: The gateway retries with a single SDP when the Lync pool refuses multipart
    Given the Lync pool refuses multipart call offers
    When the Skype user "carol@outlook.com" calls "alice@contoso.com"
    Then the Lync user "alice@contoso.com" is ringing
    When the Lync user "alice@contoso.com" answers the call
    Then the call is up with SILK/16000 on the Lync leg and SILK_WB_V3/16000 on the consumer leg
    When the Skype user "carol@outlook.com" speaks for 25 packets
    Then the Lync user "alice@contoso.com" hears those 25 packets without loss
    And the canonical trace matches its golden

  @req-32
  Scenario Outline: <lync codec> on the Lync leg crosses the gateway as <skype codec>, renumbered
    Given the Lync user "alice@contoso.com" offers only <lync codecs>
    When the Lync user "alice@contoso.com" calls "carol@outlook.com"
    And the Skype user "carol@outlook.com" answers the call
    Then the call is up with <lync codec> on the Lync leg and <skype codec> on the consumer leg
    When the Lync user "alice@contoso.com" speaks for 25 packets
    Then the Skype user "carol@outlook.com" hears those 25 packets without loss
    When the Skype user "carol@outlook.com" speaks for 25 packets
    Then the Lync user "alice@contoso.com" hears those 25 packets without loss
    And the canonical trace matches its golden

    Examples:
      | lync codecs                          | lync codec | skype codec      |
      | "SILK/8000, telephone-event/8000"    | SILK/8000  | SILK_NB_V3/8000  |
      | "G722/8000/2, G722/8000"             | G722/8000  | G722/8000        |
      | "x-msrta/16000, PCMA/8000"           | PCMA/8000  | PCMA/8000        |

  @req-32
  Scenario: A Skype offer with its own payload numbers is renumbered toward Lync
    Given the Skype user "carol@outlook.com" offers only "SILK_WB_V3/16000 as 96, NWC/16000 as 104, telephone-event/8000 as 120"
    When the Skype user "carol@outlook.com" calls "alice@contoso.com"
    And the Lync user "alice@contoso.com" answers the call
    Then the call is up with SILK/16000 on the Lync leg and SILK_WB_V3/16000 on the consumer leg
    When the Skype user "carol@outlook.com" speaks for 25 packets
    Then the Lync user "alice@contoso.com" hears those 25 packets without loss
    When the Lync user "alice@contoso.com" speaks for 25 packets
    Then the Skype user "carol@outlook.com" hears those 25 packets without loss
    And the canonical trace matches its golden
