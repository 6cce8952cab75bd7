//! The recommendation protocol on small hand-made data: both file formats, the chronological
//! split's cut points and tie rule, and the metrics worked out by hand.

use std::collections::HashSet;

use scnn_tools::recsys::{self, average_precision, Evaluation, Stage};

#[test]
fn both_file_formats_read() {
    let recbole = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n\
                   7\t31\t4\t1000\n7\t5\t3\t999\n";
    let x = recsys::parse(recbole).unwrap();
    assert_eq!(
        (x[0].user.as_str(), x[0].item.as_str(), x[0].timestamp),
        ("7", "31", 1000.0)
    );
    let caser = "1 10 5\n1 11 4\n2 10 3\n";
    let x = recsys::parse(caser).unwrap();
    assert_eq!(x.len(), 3);
    assert_eq!((x[2].user.as_str(), x[2].item.as_str()), ("2", "10"));
    assert!(
        x[0].timestamp < x[1].timestamp,
        "the line order is the time"
    );
    assert!(recsys::parse("user_id:token\titem_id:token\ttimestamp:float\n1\t2\tsoon\n").is_err());
    assert!(recsys::parse("").is_err());
}

#[test]
fn the_split_cuts_at_70_and_80_percent_and_drops_short_users() {
    let mut text = String::from("user_id:token\titem_id:token\ttimestamp:float\n");
    // User 1: 10 items at times 0..10, user 2: 6 items, user 3: 5 items (dropped).
    for t in 0..10 {
        text.push_str(&format!("1\t{}\t{t}\n", 100 + t));
    }
    for t in 0..6 {
        text.push_str(&format!("2\t{}\t{t}\n", 200 + t));
    }
    for t in 0..5 {
        text.push_str(&format!("3\t{}\t{t}\n", 300 + t));
    }
    // A tie in time breaks by item id (numerically: 9 before 10).
    text.push_str("2\t10\t100\n2\t9\t100\n");
    let users = recsys::split(&recsys::parse(&text).unwrap());
    assert_eq!(users.len(), 2);
    assert_eq!(
        (
            users[0].train.len(),
            users[0].validation.len(),
            users[0].test.len()
        ),
        (7, 1, 2)
    );
    // User 2 has 8 items: ⌊5.6⌋ = 5 train, ⌊6.4⌋ − 5 = 1 validation, 2 test.
    assert_eq!(
        (
            users[1].train.len(),
            users[1].validation.len(),
            users[1].test.len()
        ),
        (5, 1, 2)
    );
    assert_eq!(users[1].test, ["9", "10"]);
}

#[test]
fn average_precision_and_cutoffs_by_hand() {
    let targets: HashSet<&str> = ["b", "d"].into_iter().collect();
    // Hits at ranks 2 and 4: (1/2 + 2/4) / 2.
    assert_eq!(average_precision(&["a", "b", "c", "d"], &targets), 0.5);
    let mut evaluation = Evaluation::default();
    evaluation.add(
        &["b", "a", "c", "d", "e"],
        &["b".to_string(), "e".to_string()],
    );
    evaluation.add(&["a"], &[]); // no targets: not counted
    let m = evaluation.finish();
    assert_eq!(m.users, 1);
    assert_eq!(m.map, (1.0 + 2.0 / 5.0) / 2.0);
    assert_eq!(m.precision, [1.0, 2.0 / 5.0, 2.0 / 10.0]);
    assert_eq!(m.recall, [0.5, 1.0, 1.0]);
}

#[test]
fn popularity_ranks_by_training_and_validation_counts() {
    let mut text = String::from("user_id:token\titem_id:token\ttimestamp:float\n");
    // Two users of 10 items; items 1..=7 are everyone's training, 8 validation, 9 and 10 test.
    for user in ["u", "v"] {
        for (t, item) in (1..=10).enumerate() {
            text.push_str(&format!("{user}\t{item}\t{t}\n"));
        }
    }
    // A third user makes item 10 popular: its whole sequence is item 10, seven times.
    for (t, item) in [10, 10, 10, 10, 10, 10, 10].iter().enumerate() {
        text.push_str(&format!("w\t{item}\t{t}\n"));
    }
    let x = recsys::parse(&text).unwrap();
    let users = recsys::split(&x);
    let items = recsys::items(&x);
    let test = recsys::popularity(&users, &items, Stage::Test);
    // For u and v, items 1–8 are seen: 10 (count 5, w's training and validation) ranks
    // first, then 9 (count 0): both targets in the top 2, AP 1. For w, its only target
    // (item 10) is seen and excluded: AP 0.
    assert_eq!(test.users, 3);
    assert!((test.map - 2.0 / 3.0).abs() < 1e-12, "{test:?}");
    assert!((test.precision[0] - 2.0 / 3.0).abs() < 1e-12);
}
