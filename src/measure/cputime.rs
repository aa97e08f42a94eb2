//! What memlab's own measuring costs, in CPU time of the thread doing it. Budgets are kept in
//! CPU time: in wall time, on a busy machine, a 0.2 ms poll that waited 30 ms for a core would
//! look expensive and stretch the polls for nothing.

use std::time::Duration;

pub use crate::kernel::thread_cpu;

/// Exponential moving average of a cost: recent costs weigh most, one outlier does not decide.
pub fn moving_average(previous: Option<Duration>, cost: Duration) -> Duration {
    previous.map_or(cost, |average| average.mul_f64(0.7) + cost.mul_f64(0.3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_cpu_grows_with_work_and_not_with_sleep() {
        let before = thread_cpu();
        std::thread::sleep(Duration::from_millis(30));
        let slept = thread_cpu() - before;
        let mut x = 0u64;
        let spin = std::time::Instant::now();
        while spin.elapsed() < Duration::from_millis(30) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        let worked = thread_cpu() - before - slept;
        assert!(slept < Duration::from_millis(10), "sleeping cost {slept:?}");
        assert!(
            worked > Duration::from_millis(5),
            "spinning cost {worked:?}"
        );
    }

    #[test]
    fn the_average_follows_recent_costs() {
        let ms = Duration::from_millis;
        assert_eq!(moving_average(None, ms(10)), ms(10));
        assert_eq!(moving_average(Some(ms(10)), ms(20)), ms(13));
    }
}
