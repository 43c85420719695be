@sip
Feature: SIP basics every element on the path shows
  Before it translates anything, the gateway is a SIP element: it answers OPTIONS addressed to
  itself (RFC 3261 §11) and refuses a request in a dialog it does not know (§12.2.2). A plain SIP
  proxy shows these too, so they carry @plain-proxy: scenarios/sut/kamailio.yaml must pass
  exactly these and fail every scenario that needs translation.

  Background:
    Given the Lync user "alice@contoso.com"
    And the Skype user "carol@outlook.com"

  @plain-proxy
  Scenario: The gateway answers OPTIONS addressed to itself on both faces
    When the Lync user "alice@contoso.com" sends OPTIONS to the gateway
    Then the gateway answers 200
    When the Skype user "carol@outlook.com" sends OPTIONS to the gateway
    Then the gateway answers 200
    And the canonical trace matches its golden

  @plain-proxy @req-17
  Scenario: A Lync request in a dialog the gateway does not know is refused with 481
    When the Lync user "alice@contoso.com" sends the IM "Stale" to "carol@outlook.com" in a dialog the gateway does not know
    Then the IM is refused with 481
    And the Skype user "carol@outlook.com" receives no IM
    And the canonical trace matches its golden
