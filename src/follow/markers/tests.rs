use std::time::{Duration, Instant};

use super::*;

fn marker(line: &str) -> Marker {
    match parse_line(line.as_bytes()) {
        Ok(Message::Marker(marker)) => marker,
        other => panic!("{line}: {other:?}"),
    }
}

fn problem_of(line: &[u8]) -> ProblemKind {
    match parse_line(line) {
        Err(problem) => problem.kind,
        Ok(message) => panic!("{}: parsed as {message:?}", String::from_utf8_lossy(line)),
    }
}

#[test]
fn the_four_kinds_parse_with_their_phase_names() {
    let mark = marker(r#"{"v": 1, "type": "mark", "name": "loaded", "pid": 4100}"#);
    assert_eq!(
        mark,
        Marker {
            kind: MarkerKind::Mark,
            name: "loaded".into(),
            pid: 4100,
            reply_fd: None
        }
    );
    assert_eq!(mark.phase_name(), "loaded");
    let begin = marker(r#"{"v": 1, "type": "begin", "name": "train", "pid": 4100}"#);
    assert_eq!(begin.phase_name(), "train-begin");
    let end = marker(r#"{"v": 1, "type": "end", "name": "train", "pid": 4100}"#);
    assert_eq!(end.phase_name(), "train-end");
    let checkpoint = marker(
        r#"{"v": 1, "type": "checkpoint", "name": "workers-up", "pid": 4107, "reply_fd": 9}"#,
    );
    assert_eq!(checkpoint.kind, MarkerKind::Checkpoint);
    assert_eq!(checkpoint.reply_fd, Some(9));
    assert_eq!(checkpoint.phase_name(), "workers-up");
}

#[test]
fn unknown_fields_are_ignored_and_stop_is_a_message() {
    let mark = marker(r#"{"v":1,"type":"mark","name":"a_b-9","pid":7,"extra":[1,2]}"#);
    assert_eq!(mark.name, "a_b-9");
    assert_eq!(
        parse_line(br#"{"v": 1, "type": "stop", "pid": 12}"#),
        Ok(Message::Stop { pid: 12 })
    );
}

#[test]
fn malformed_lines_say_so() {
    for line in [
        &b"not json"[..],
        b"[1, 2]",
        b"{}",
        br#"{"v": 2, "type": "mark", "name": "a", "pid": 1}"#,
        br#"{"v": "1", "type": "mark", "name": "a", "pid": 1}"#,
        br#"{"v": 1, "type": "jump", "name": "a", "pid": 1}"#,
        br#"{"v": 1, "type": "mark", "name": "a"}"#,
        br#"{"v": 1, "type": "mark", "name": "a", "pid": -3}"#,
        br#"{"v": 1, "type": "mark", "name": "a", "pid": 0}"#,
        br#"{"v": 1, "type": "mark", "name": "a", "pid": 99999999999}"#,
        br#"{"v": 1, "type": "mark", "name": 5, "pid": 1}"#,
        br#"{"v": 1, "type": "checkpoint", "name": "a", "pid": 1}"#,
        br#"{"v": 1, "type": "checkpoint", "name": "a", "pid": 1, "reply_fd": -1}"#,
        b"\xff\xfe",
    ] {
        assert_eq!(problem_of(line), ProblemKind::Malformed);
    }
}

#[test]
fn names_follow_the_phase_name_rule() {
    for bad in ["", "Loaded", "a b", "a.b", "é", &"x".repeat(41)] {
        let line = format!(r#"{{"v": 1, "type": "mark", "name": {bad:?}, "pid": 1}}"#);
        assert_eq!(problem_of(line.as_bytes()), ProblemKind::BadName, "{bad:?}");
    }
    let longest = "x".repeat(40);
    assert_eq!(
        marker(&format!(
            r#"{{"v": 1, "type": "mark", "name": "{longest}", "pid": 1}}"#
        ))
        .name,
        longest
    );
    // begin/end: at most 34, so that NAME-begin obeys the rule too.
    let line = format!(
        r#"{{"v": 1, "type": "begin", "name": "{}", "pid": 1}}"#,
        "x".repeat(35)
    );
    assert_eq!(problem_of(line.as_bytes()), ProblemKind::BadName);
    let line = format!(
        r#"{{"v": 1, "type": "end", "name": "{}", "pid": 1}}"#,
        "x".repeat(34)
    );
    assert_eq!(marker(&line).phase_name().len(), 38);
}

#[test]
fn lines_are_split_across_reads_and_bounded() {
    let mut splitter = LineSplitter::default();
    let mut out = Vec::new();
    splitter.feed(b"ab", &mut out);
    assert!(out.is_empty());
    splitter.feed(b"c\n\nde\nf", &mut out);
    assert_eq!(
        out,
        vec![Piece::Line(b"abc".to_vec()), Piece::Line(b"de".to_vec())]
    );
    out.clear();
    // A line of exactly the limit passes; one byte more is skipped to its end, once.
    let exact = vec![b'x'; MAX_LINE_BYTES - 1];
    splitter.feed(&exact, &mut out);
    splitter.feed(b"\n", &mut out);
    assert_eq!(out, vec![Piece::Line([b"f".to_vec(), exact].concat())]);
    out.clear();
    splitter.feed(&vec![b'y'; MAX_LINE_BYTES], &mut out);
    splitter.feed(b"y", &mut out);
    splitter.feed(&vec![b'y'; 3 * MAX_LINE_BYTES], &mut out);
    assert_eq!(out, vec![Piece::TooLong]);
    splitter.feed(b"yy\nok\n", &mut out);
    assert_eq!(out, vec![Piece::TooLong, Piece::Line(b"ok".to_vec())]);
}

#[test]
fn the_rate_limit_allows_a_burst_then_the_sustained_rate() {
    let t0 = Instant::now();
    let mut limit = RateLimit::new(3, 2);
    assert!((0..3).all(|_| limit.allow(t0)));
    assert!(!limit.allow(t0));
    assert!(!limit.allow(t0 + Duration::from_millis(400)));
    assert!(limit.allow(t0 + Duration::from_millis(500)));
    assert!(!limit.allow(t0 + Duration::from_millis(600)));
    // A long quiet time refills the burst, no more.
    let later = t0 + Duration::from_secs(60);
    assert!((0..3).all(|_| limit.allow(later)));
    assert!(!limit.allow(later));
}

#[test]
fn one_warning_per_kind_is_kept() {
    let warnings = Warnings::default();
    let line = |kind, detail: &str| LineProblem {
        kind,
        detail: detail.into(),
    };
    warnings.warn(&line(ProblemKind::Malformed, "first"));
    warnings.warn(&line(ProblemKind::Malformed, "second"));
    warnings.warn(&line(ProblemKind::BadName, "a name"));
    let texts = warnings.texts();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts[0].contains("first"), "{texts:?}");
    assert!(texts[1].contains("a name"), "{texts:?}");
}
