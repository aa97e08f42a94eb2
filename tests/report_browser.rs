//! `report.html` as a reader sees it: rendered by headless Chromium (installed by `.ci/run`),
//! every chart present, laid out with a real size and full of drawn elements, every table
//! there, and every PNG the page links to decoded by the browser at the chart's size.

mod common;

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report/results")
}

/// The Chromium binary, from PATH.
fn chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ] {
        for directory in std::env::split_paths(&path) {
            let candidate = directory.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "headless Chromium is needed for this test and was not found on PATH: \
         install it with `apt-get install -y chromium` (.ci/run does)"
    );
}

/// Runs headless Chromium on `url` with `extra` arguments; returns its stdout. Chromium runs
/// in its own process group, killed whole if it outlives the deadline.
fn headless(profile: &Path, extra: &[&str], url: &str) -> String {
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("chromium starts");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).ok();
        text
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium failed: {status}");
            break;
        }
        if Instant::now() > deadline {
            // SAFETY: signals the process group of the child started above, and only it.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            child.wait().ok();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap()
}

/// The report's page with a measuring script appended (the report itself has none): it
/// writes, once everything is loaded, what the browser laid out and decoded.
const PROBE: &str = r#"
<pre id="memlab-probe"></pre>
<script>
window.addEventListener('load', () => {
  const charts = [...document.querySelectorAll('figure.chart svg')].map(svg => {
    const box = svg.getBoundingClientRect();
    return {
      chart: svg.getAttribute('data-chart'),
      width: box.width,
      height: box.height,
      elements: svg.querySelectorAll('*').length,
      texts: svg.querySelectorAll('text').length,
      shapes: svg.querySelectorAll('rect, polyline, path, circle, line').length,
      declared: [svg.viewBox.baseVal.width, svg.viewBox.baseVal.height],
    };
  });
  const images = [...document.querySelectorAll('img.probe')].map(img => ({
    src: img.getAttribute('src'),
    complete: img.complete,
    width: img.naturalWidth,
    height: img.naturalHeight,
  }));
  const tables = [...document.querySelectorAll('table')].map(t => t.rows.length);
  const articles = [...document.querySelectorAll('article.scenario')].map(a => a.id);
  document.getElementById('memlab-probe').textContent =
    JSON.stringify({ charts, images, tables, articles, title: document.title });
});
</script>
"#;

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[test]
fn headless_chromium_shows_every_chart_and_table_of_the_report() {
    let out = tempfile::tempdir().unwrap();
    let output = common::memlab()
        .arg("report")
        .arg(fixtures())
        .arg("--out")
        .arg(out.path())
        .arg("--plots")
        .arg(out.path().join("plots"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let html = std::fs::read_to_string(out.path().join("report.html")).unwrap();

    // The PNGs the page links to, as images the browser must decode.
    let mut pngs: Vec<String> = std::fs::read_dir(out.path().join("plots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".png"))
        .collect();
    pngs.sort();
    let images: String = pngs
        .iter()
        .map(|n| format!(r#"<img class="probe" src="plots/{n}" alt="">"#))
        .collect();
    let probe = html.replace("</body>", &format!("{images}{PROBE}</body>"));
    let probe_path = out.path().join("report-probe.html");
    std::fs::write(&probe_path, probe).unwrap();

    let profile = tempfile::tempdir().unwrap();
    let dom = headless(
        profile.path(),
        &[
            "--window-size=1280,2000",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ],
        &format!("file://{}", probe_path.display()),
    );
    let start = dom
        .find(r#"<pre id="memlab-probe">"#)
        .expect("the probe ran")
        + r#"<pre id="memlab-probe">"#.len();
    let end = start + dom[start..].find("</pre>").unwrap();
    let probe: serde_json::Value = serde_json::from_str(&unescape(&dom[start..end]))
        .unwrap_or_else(|e| panic!("probe output is not JSON ({e}): {}", &dom[start..end]));
    assert_eq!(probe["title"], "memlab report");

    // Every chart the report has, inline, laid out, and drawn.
    let charts = probe["charts"].as_array().unwrap();
    assert_eq!(
        charts.len(),
        html.matches("<figure class=\"chart\"").count()
    );
    assert_eq!(charts.len(), 22, "{charts:?}");
    for chart in charts {
        let name = chart["chart"].as_str().unwrap();
        let (width, height) = (
            chart["width"].as_f64().unwrap(),
            chart["height"].as_f64().unwrap(),
        );
        assert!(width > 300.0 && height > 200.0, "{name}: {width}x{height}");
        // The page scales a chart to its column, keeping its proportions.
        let declared = chart["declared"].as_array().unwrap();
        let ratio = declared[0].as_f64().unwrap() / declared[1].as_f64().unwrap();
        assert!(
            (width / height - ratio).abs() < 0.02 * ratio,
            "{name}: {width}x{height}"
        );
        if name == "children-thp" {
            // Estimated figures, no page truth: the chart is its title and a note.
            assert_eq!(chart["texts"], 2, "{name}: {chart}");
            continue;
        }
        assert!(chart["elements"].as_u64().unwrap() > 20, "{name}: {chart}");
        assert!(chart["texts"].as_u64().unwrap() >= 3, "{name}: {chart}");
        assert!(chart["shapes"].as_u64().unwrap() >= 3, "{name}: {chart}");
    }
    for stem in [
        "timeline-refcount-list",
        "children-refcount-list",
        "suite-claims",
        "suite-overcount",
        "scan-object-size-refcount-objsize",
        "scan-children",
        "python-matrix",
    ] {
        assert!(
            charts.iter().any(|c| c["chart"] == stem),
            "no chart {stem} in the page"
        );
    }

    // Every PNG decoded, at its SVG's size.
    let images = probe["images"].as_array().unwrap();
    assert_eq!(images.len(), pngs.len());
    assert_eq!(pngs.len(), charts.len());
    for image in images {
        let src = image["src"].as_str().unwrap();
        assert_eq!(image["complete"], true, "{src}");
        let stem = src.trim_start_matches("plots/").trim_end_matches(".png");
        let chart = charts
            .iter()
            .find(|c| c["chart"] == stem)
            .unwrap_or_else(|| panic!("{src}: no chart"));
        let declared = chart["declared"].as_array().unwrap();
        assert_eq!(image["width"].as_f64(), declared[0].as_f64(), "{src}");
        assert_eq!(image["height"].as_f64(), declared[1].as_f64(), "{src}");
    }

    // Tables: verdicts, machine, every scenario's claims; every scenario has its article.
    let tables = probe["tables"].as_array().unwrap();
    assert!(tables.len() >= 15, "{} tables", tables.len());
    assert!(tables.iter().all(|rows| rows.as_u64().unwrap() >= 2));
    let articles = probe["articles"].as_array().unwrap();
    assert_eq!(articles.len(), 9, "{articles:?}");

    // And a screenshot of the page as it opens, kept for a human to look at.
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-browser");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("report.png");
    std::fs::remove_file(&shot).ok();
    headless(
        profile.path(),
        &[
            "--window-size=1280,2000",
            &format!("--screenshot={}", shot.display()),
        ],
        &format!("file://{}", out.path().join("report.html").display()),
    );
    let bytes = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(
        u32::from_be_bytes(bytes[16..20].try_into().unwrap()),
        1280,
        "screenshot width"
    );
    // A blank page compresses to almost nothing; the report's first screen does not.
    assert!(bytes.len() > 50_000, "screenshot of {} bytes", bytes.len());
}
