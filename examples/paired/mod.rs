//! Paired rounds for the slowdown benchmarks: each round runs the program alone and followed,
//! back to back, so that the machine's drift hits both alike; the figure is the median of the
//! rounds' ratios, with a bootstrap interval.

use memlab::result::median;

/// The median of the rounds' ratios `followed / alone` and its 95% bootstrap interval.
pub struct PairedSlowdown {
    pub median_ratio: f64,
    pub low: f64,
    pub high: f64,
}

impl PairedSlowdown {
    pub fn of(alone: &[f64], followed: &[f64]) -> PairedSlowdown {
        let ratios: Vec<f64> = followed.iter().zip(alone).map(|(f, a)| f / a).collect();
        let (low, high) = bootstrap_interval(&ratios);
        PairedSlowdown {
            median_ratio: median(&ratios),
            low,
            high,
        }
    }

    /// "+3.0% (−1.2% – +5.8%)".
    pub fn percent(&self) -> String {
        let percent = |ratio: f64| (ratio - 1.0) * 100.0;
        format!(
            "{:+.1}% ({:+.1}% – {:+.1}%)",
            percent(self.median_ratio),
            percent(self.low),
            percent(self.high)
        )
    }
}

/// The 2.5th and 97.5th percentiles of the median of `values` resampled with replacement
/// (2000 resamples, a fixed seed: the same rounds give the same interval).
fn bootstrap_interval(values: &[f64]) -> (f64, f64) {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        // xorshift64*: enough for resampling indices.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut medians: Vec<f64> = (0..2000)
        .map(|_| {
            let sample: Vec<f64> = (0..values.len())
                .map(|_| values[(next() % values.len() as u64) as usize])
                .collect();
            median(&sample)
        })
        .collect();
    medians.sort_by(|a, b| a.total_cmp(b));
    (medians[50], medians[1949])
}
