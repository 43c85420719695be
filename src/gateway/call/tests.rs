//! Audio calls end to end on loopback.
