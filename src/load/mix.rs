//! What a load run asks for: the mix of transaction kinds, and durations as people write them.

use std::fmt;
use std::time::Duration;

/// A transaction kind the load generator drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// The start-up presence subscription each agent holds for the run (Skype watcher of its
    /// Lync buddy): SUBSCRIBE to the first active NOTIFY.
    Subscribe,
    /// A Skype user's pager MESSAGE to its Lync buddy, to its final response (the gateway
    /// answers only once the Lync side has).
    Im,
    /// A Lync availability change (BENOTIFY into the subscription) until the Skype watcher's
    /// NOTIFY arrives.
    Presence,
    /// A Lync user calls its Skype buddy: INVITE to 200, then ACK and BYE (signalling only).
    Call,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Self; 4] = [Self::Subscribe, Self::Im, Self::Presence, Self::Call];

    /// The name in `--mix` and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Subscribe => "subscribe",
            Self::Im => "im",
            Self::Presence => "presence",
            Self::Call => "call",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Relative weights of the kinds a run draws (`im=70,presence=20,call=10`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    /// Weight of IMs.
    pub im: u32,
    /// Weight of presence changes.
    pub presence: u32,
    /// Weight of calls.
    pub call: u32,
}

impl Mix {
    /// Parses `kind=weight` pairs separated by commas; kinds left out weigh 0, and at least one
    /// weight must be positive.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut mix = Self { im: 0, presence: 0, call: 0 };
        let mut seen = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((name, weight)) = part.split_once('=') else {
                return Err(format!("`{part}`: expected kind=weight (kinds: im, presence, call)"));
            };
            let name = name.trim();
            let w: u32 = weight
                .trim()
                .parse()
                .map_err(|_| format!("`{part}`: the weight `{}` is not a whole number", weight.trim()))?;
            if seen.contains(&name.to_owned()) {
                return Err(format!("`{name}` is given twice"));
            }
            seen.push(name.to_owned());
            match name {
                "im" => mix.im = w,
                "presence" => mix.presence = w,
                "call" => mix.call = w,
                other => return Err(format!("`{other}` is not a kind (kinds: im, presence, call)")),
            }
        }
        if mix.total() == 0 {
            return Err("the mix needs at least one positive weight (e.g. im=70,presence=20,call=10)".into());
        }
        Ok(mix)
    }

    fn total(self) -> u64 {
        u64::from(self.im) + u64::from(self.presence) + u64::from(self.call)
    }

    /// The kind a uniform draw `r` in `0..total` lands on.
    pub fn pick(self, rng: &mut fastrand::Rng) -> Kind {
        let r = rng.u64(..self.total());
        if r < u64::from(self.im) {
            Kind::Im
        } else if r < u64::from(self.im) + u64::from(self.presence) {
            Kind::Presence
        } else {
            Kind::Call
        }
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "im={},presence={},call={}", self.im, self.presence, self.call)
    }
}

/// Parses a duration written `250ms`, `30s`, `2m` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num.parse().map_err(|_| format!("`{s}`: expected a number with ms, s or m (e.g. 30s)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        other => return Err(format!("`{s}`: unknown unit `{other}` (ms, s or m)")),
    };
    if !secs.is_finite() || secs <= 0.0 || secs > 24.0 * 3600.0 {
        return Err(format!("`{s}`: must be more than 0 and at most 24 h"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mix_reads_its_weights_and_defaults_the_rest_to_zero() {
        assert_eq!(Mix::parse("im=70,presence=20,call=10"), Ok(Mix { im: 70, presence: 20, call: 10 }));
        assert_eq!(Mix::parse(" call = 1 "), Ok(Mix { im: 0, presence: 0, call: 1 }));
    }

    #[test]
    fn a_wrong_mix_says_what_is_wrong() {
        assert!(Mix::parse("im=0").unwrap_err().contains("positive"));
        assert!(Mix::parse("video=3").unwrap_err().contains("`video` is not a kind"));
        assert!(Mix::parse("im=x").unwrap_err().contains("`x` is not a whole number"));
        assert!(Mix::parse("im").unwrap_err().contains("kind=weight"));
        assert!(Mix::parse("im=1,im=2").unwrap_err().contains("twice"));
    }

    #[test]
    fn draws_follow_the_weights() {
        let mix = Mix { im: 3, presence: 0, call: 1 };
        let mut rng = fastrand::Rng::with_seed(7);
        let mut n = [0u32; 3];
        for _ in 0..4000 {
            match mix.pick(&mut rng) {
                Kind::Im => n[0] += 1,
                Kind::Presence => n[1] += 1,
                Kind::Call | Kind::Subscribe => n[2] += 1,
            }
        }
        assert_eq!(n[1], 0, "a kind of weight 0 is never drawn");
        // 3:1 within a wide margin (seeded, so this is one fixed outcome).
        assert!((2800..3200).contains(&n[0]), "{n:?}");
    }

    #[test]
    fn durations_read_with_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("3h").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("abc").is_err());
    }
}
