//! Presence states on the two legs and the translation between them (PROTOCOL.md §4.1,
//! scenarios/dialects/flows.md "Translation the gateway must perform").

/// A Lync availability number. Read only by band (req 10): clients and servers publish many
/// values inside one band (3500 and 4500 are both Available), so an exact match would misread
/// a conforming peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Availability(pub u32);

/// The bands of Lync availability values (flows.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Band {
    /// Below 3000: no state known.
    None,
    /// 3000–5999, including Available-Idle.
    Available,
    /// 6000–8999, including Busy-Idle.
    Busy,
    /// 9000–11999.
    DoNotDisturb,
    /// 12000–14999.
    BeRightBack,
    /// 15000–17999.
    Away,
    /// 18000 and above.
    Offline,
}

impl Availability {
    /// The band this value lies in.
    pub fn band(self) -> Band {
        match self.0 {
            0..3000 => Band::None,
            3000..6000 => Band::Available,
            6000..9000 => Band::Busy,
            9000..12000 => Band::DoNotDisturb,
            12000..15000 => Band::BeRightBack,
            15000..18000 => Band::Away,
            _ => Band::Offline,
        }
    }
}

/// A Skype user's state as the consumer leg carries it (PIDF basic + RPID activity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerState {
    /// `open`, no activity.
    Online,
    /// `open` + `rpid:away`.
    Away,
    /// `open` + `rpid:busy` (Do Not Disturb in the Skype UI).
    Busy,
    /// `closed` (also Invisible).
    Offline,
}

impl ConsumerState {
    /// Lync → consumer, by band: Do Not Disturb folds into Busy and Be Right Back into Away,
    /// the consumer leg having no finer states.
    pub fn from_lync(a: Availability) -> Self {
        match a.band() {
            Band::Available => Self::Online,
            Band::Busy | Band::DoNotDisturb => Self::Busy,
            Band::BeRightBack | Band::Away => Self::Away,
            Band::None | Band::Offline => Self::Offline,
        }
    }

    /// Consumer → Lync: the value a Lync client would publish for this state (req 11).
    pub fn lync_value(self) -> Availability {
        Availability(match self {
            Self::Online => 3500,
            Self::Busy => 6500,
            Self::Away => 15500,
            Self::Offline => 18500,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_band_edge_maps_to_its_consumer_state() {
        use ConsumerState::*;
        let cases = [
            (0, Offline),
            (2999, Offline),
            (3000, Online),
            (4499, Online),
            (4500, Online),
            (5999, Online),
            (6000, Busy),
            (8999, Busy),
            (9000, Busy),
            (11999, Busy),
            (12000, Away),
            (14999, Away),
            (15000, Away),
            (17999, Away),
            (18000, Offline),
            (u32::MAX, Offline),
        ];
        for (value, want) in cases {
            assert_eq!(ConsumerState::from_lync(Availability(value)), want, "availability {value}");
        }
    }

    #[test]
    fn bands_split_where_lync_splits_them() {
        let bands = [
            (2999, Band::None),
            (3000, Band::Available),
            (5999, Band::Available),
            (6000, Band::Busy),
            (8999, Band::Busy),
            (9000, Band::DoNotDisturb),
            (11999, Band::DoNotDisturb),
            (12000, Band::BeRightBack),
            (14999, Band::BeRightBack),
            (15000, Band::Away),
            (17999, Band::Away),
            (18000, Band::Offline),
        ];
        for (value, want) in bands {
            assert_eq!(Availability(value).band(), want, "availability {value}");
        }
    }

    #[test]
    fn published_values_sit_in_their_own_band_and_round_trip() {
        use ConsumerState::*;
        for (state, value) in [(Online, 3500), (Busy, 6500), (Away, 15500), (Offline, 18500)] {
            assert_eq!(state.lync_value(), Availability(value));
            assert_eq!(ConsumerState::from_lync(state.lync_value()), state);
        }
    }
}
