@video
Feature: Video calls between Lync and Skype users through the gateway, with real H.264 media
  A Lync 2013 client adds an m=video line to its call offer: X-H264UC/90000 with
  packetization-mode=1;mst-mode=NI-TC, RTVideo (x-rtvc1) and ULP FEC, SDES keys, MS-ICE2
  candidates, a 100-wide x-ssrc-range and rtcp-fb x-message lines (PROTOCOL.md §1.7, §2.5).
  The consumer leg carries plain H.264 (RFC 6184 mode 1) over RTP/AVP (§9.2). The gateway
  renumbers the payload type, sends from its own 100-wide SSRC range toward Lync, puts a PACSI
  in front of every access unit toward Lync and strips it toward the consumer side (§3.4),
  and turns keyframe requests (PLI, FIR, the MS-RTP Video Source Request) from one leg into
  its own on the other. Frames are counted where they were reassembled, on both legs; the
  canonical trace carries one video summary line per stream and step.

  Background:
    Given the Lync user "alice@contoso.com"
    And the Skype user "bob@contoso.com"
    And the Skype user "carol@outlook.com"

  @req-23 @req-24 @req-25 @req-26 @req-32 @req-17
  Scenario: Lync user calls a Skype user with video, both send video, the Lync user hangs up
    Given the Lync user "alice@contoso.com" offers video
    When the Lync user "alice@contoso.com" calls "bob(contoso.com)@msn.com"
    And the Skype user "bob@contoso.com" answers the call
    Then the call carries video on both legs
    When the Lync user "alice@contoso.com" sends 20 video frames
    Then the Skype user "bob@contoso.com" receives those 20 frames whole, 1 of them IDR
    When the Skype user "bob@contoso.com" sends 20 video frames
    Then the Lync user "alice@contoso.com" receives those 20 frames whole, 1 of them IDR
    When the Lync user "alice@contoso.com" hangs up
    Then the call has ended on both legs
    And the canonical trace matches its golden

  @req-23 @req-24 @req-25 @req-26 @req-32 @req-17
  Scenario: Skype user calls a Lync user with video, both send video, the Skype user hangs up
    Given the Skype user "carol@outlook.com" offers video
    When the Skype user "carol@outlook.com" calls "alice@contoso.com"
    And the Lync user "alice@contoso.com" answers the call
    Then the call carries video on both legs
    When the Skype user "carol@outlook.com" sends 20 video frames
    Then the Lync user "alice@contoso.com" receives those 20 frames whole, 1 of them IDR
    When the Lync user "alice@contoso.com" sends 20 video frames
    Then the Skype user "carol@outlook.com" receives those 20 frames whole, 1 of them IDR
    When the Skype user "carol@outlook.com" hangs up
    Then the call has ended on both legs
    And the canonical trace matches its golden

  @req-25
  Scenario: A Lync 2010 offer with only RTVideo gets an audio-only answer with the video refused
    Given the Lync user "alice@contoso.com" runs Lync 2010 with RTVideo only
    When the Lync user "alice@contoso.com" calls "carol@outlook.com"
    And the Skype user "carol@outlook.com" answers the call
    Then the gateway declined the video of the Lync user "alice@contoso.com" with port 0
    When the Lync user "alice@contoso.com" speaks for 10 packets
    Then the Skype user "carol@outlook.com" hears those 10 packets without loss
    And the canonical trace matches its golden

  @req-27
  Scenario: A PLI from the Skype user reaches the Lync user as a PLI and is answered with an IDR
    Given the Lync user "alice@contoso.com" offers video
    When the Lync user "alice@contoso.com" calls "carol@outlook.com"
    And the Skype user "carol@outlook.com" answers the call
    And the Lync user "alice@contoso.com" sends 5 video frames
    Then the Skype user "carol@outlook.com" receives those 5 frames whole, 1 of them IDR
    When the Skype user "carol@outlook.com" asks for a keyframe with a PLI
    Then the Lync user "alice@contoso.com" is asked for a keyframe with a PLI
    When the Lync user "alice@contoso.com" sends 5 video frames
    Then the Skype user "carol@outlook.com" receives those 5 frames whole, 1 of them IDR
    And the canonical trace matches its golden

  @req-27
  Scenario: A FIR from the Lync user reaches the Skype user as a FIR and is answered with an IDR
    Given the Skype user "carol@outlook.com" offers video
    When the Skype user "carol@outlook.com" calls "alice@contoso.com"
    And the Lync user "alice@contoso.com" answers the call
    And the Skype user "carol@outlook.com" sends 5 video frames
    Then the Lync user "alice@contoso.com" receives those 5 frames whole, 1 of them IDR
    When the Lync user "alice@contoso.com" asks for a keyframe with a FIR
    Then the Skype user "carol@outlook.com" is asked for a keyframe with a FIR
    When the Skype user "carol@outlook.com" sends 5 video frames
    Then the Lync user "alice@contoso.com" receives those 5 frames whole, 1 of them IDR
    And the canonical trace matches its golden

  @req-27
  Scenario: A Video Source Request from the Lync user is answered with a keyframe from the Skype user
    Given the Lync user "alice@contoso.com" offers video
    When the Lync user "alice@contoso.com" calls "carol@outlook.com"
    And the Skype user "carol@outlook.com" answers the call
    And the Skype user "carol@outlook.com" sends 5 video frames
    Then the Lync user "alice@contoso.com" receives those 5 frames whole, 1 of them IDR
    When the Lync user "alice@contoso.com" asks for a keyframe with a VSR
    Then the Skype user "carol@outlook.com" is asked for a keyframe with a PLI
    When the Skype user "carol@outlook.com" sends 5 video frames
    Then the Lync user "alice@contoso.com" receives those 5 frames whole, 1 of them IDR
    And the canonical trace matches its golden

  @req-24 @req-26
  Scenario: Large Lync frames cross fragmented, without PACSI and with one marker per frame
    Given the Lync user "alice@contoso.com" offers video
    When the Lync user "alice@contoso.com" calls "carol@outlook.com"
    And the Skype user "carol@outlook.com" answers the call
    And the Lync user "alice@contoso.com" sends 65 video frames
    Then the Skype user "carol@outlook.com" receives those 65 frames whole, 2 of them IDR
    And the canonical trace matches its golden

  @req-23 @req-26
  Scenario: Skype video reaches the Lync user from the gateway's SSRC range with a PACSI per frame
    Given the Skype user "carol@outlook.com" offers video
    When the Skype user "carol@outlook.com" calls "alice@contoso.com"
    And the Lync user "alice@contoso.com" answers the call
    And the Skype user "carol@outlook.com" sends 30 video frames
    Then the Lync user "alice@contoso.com" receives those 30 frames whole, 1 of them IDR
    And the canonical trace matches its golden

  @req-17
  Scenario: The Lync user hangs up a video call the Skype user placed
    Given the Skype user "carol@outlook.com" offers video
    When the Skype user "carol@outlook.com" calls "alice@contoso.com"
    And the Lync user "alice@contoso.com" answers the call
    Then the call carries video on both legs
    When the Lync user "alice@contoso.com" hangs up
    Then the call has ended on both legs
    And the canonical trace matches its golden

  @req-25 @req-26
  Scenario: The Lync user adds video to an audio call by re-INVITE and removes it again
    Given the Lync user "alice@contoso.com" is in a call with "carol@outlook.com"
    When the Lync user "alice@contoso.com" adds video to the call
    Then the call carries video on both legs
    When the Lync user "alice@contoso.com" sends 10 video frames
    Then the Skype user "carol@outlook.com" receives those 10 frames whole, 1 of them IDR
    When the Skype user "carol@outlook.com" sends 10 video frames
    Then the Lync user "alice@contoso.com" receives those 10 frames whole, 1 of them IDR
    When the Lync user "alice@contoso.com" removes video from the call
    Then the call carries no video on either leg
    When the Lync user "alice@contoso.com" speaks for 10 packets
    Then the Skype user "carol@outlook.com" hears those 10 packets without loss
    And the canonical trace matches its golden

  @req-25 @req-26
  Scenario: The Skype user adds video to an audio call by re-INVITE
    Given the Skype user "carol@outlook.com" is in a call with "alice@contoso.com"
    When the Skype user "carol@outlook.com" adds video to the call
    Then the call carries video on both legs
    When the Skype user "carol@outlook.com" sends 10 video frames
    Then the Lync user "alice@contoso.com" receives those 10 frames whole, 1 of them IDR
    And the canonical trace matches its golden
