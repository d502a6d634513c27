//! Samples and their summaries.

use std::time::Duration;

/// Durations of one measurement, in microseconds.
#[derive(Debug, Clone, Default)]
pub(crate) struct Samples {
    micros: Vec<f64>,
}

impl Samples {
    pub fn push(&mut self, d: Duration) {
        self.micros.push(d.as_secs_f64() * 1e6);
    }

    pub fn extend(&mut self, other: Samples) {
        self.micros.extend(other.micros);
    }

    pub fn len(&self) -> usize {
        self.micros.len()
    }

    fn sorted(&self) -> Vec<f64> {
        let mut v = self.micros.clone();
        v.sort_by(f64::total_cmp);
        v
    }

    fn quantile(&self, q: f64) -> f64 {
        let v = self.sorted();
        if v.is_empty() {
            return f64::NAN;
        }
        let pos = q * (v.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
    }

    /// The median, in µs.
    pub fn median(&self) -> f64 {
        self.quantile(0.5)
    }

    /// The 10th and 90th percentiles, in µs: the spread reported beside the median.
    pub fn spread(&self) -> (f64, f64) {
        (self.quantile(0.1), self.quantile(0.9))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_spread() {
        let mut s = Samples::default();
        for us in [5, 1, 3, 2, 4] {
            s.push(Duration::from_micros(us));
        }
        assert_eq!(s.len(), 5);
        assert!((s.median() - 3.0).abs() < 1e-9);
        let (p10, p90) = s.spread();
        assert!((p10 - 1.4).abs() < 1e-9 && (p90 - 4.6).abs() < 1e-9);
        assert!(Samples::default().median().is_nan());
    }
}
