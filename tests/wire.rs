//! The serial protocol's messages: what one side writes, the other reads back.

use scnn::wire::{self, AnswerHeader, CountUnit, Hello, HelloError, LinkStats};

#[test]
fn hello_round_trips_and_refuses_other_versions() {
    let hello = Hello {
        unit: CountUnit::Cycles,
        pair_len: 256,
        model_crc: 0x9662_2351,
        app: scnn::blob::App::Protein,
        decoder: scnn::decode::Decoder::Nested,
    };
    let bytes = hello.to_bytes();
    assert_eq!(&bytes[..4], &wire::HELLO);
    assert_eq!(bytes[4], wire::VERSION);
    assert_eq!(Hello::from_bytes(&bytes), Ok(hello));

    let mut old = bytes;
    old[4] = 1;
    assert_eq!(Hello::from_bytes(&old), Err(HelloError::Version(1)));
    let mut unit = bytes;
    unit[5] = 7;
    assert_eq!(Hello::from_bytes(&unit), Err(HelloError::Unit(7)));
    let mut magic = bytes;
    magic[0] = b'X';
    assert_eq!(Hello::from_bytes(&magic), Err(HelloError::NotAHello));
    let mut app = bytes;
    app[12] = 9;
    assert_eq!(Hello::from_bytes(&app), Err(HelloError::App(9)));
    let mut decoder = bytes;
    decoder[13] = 2;
    assert_eq!(Hello::from_bytes(&decoder), Err(HelloError::Decoder(2)));
}

#[test]
fn answer_header_round_trips() {
    let header = AnswerHeader {
        len: 77,
        count: 64_602_177_123,
        stack_bytes: 2600,
    };
    let bytes = header.to_bytes();
    assert_eq!(bytes[0], wire::OK);
    let rest: [u8; wire::OK_HEADER_LEN - 1] = bytes[1..].try_into().unwrap();
    assert_eq!(AnswerHeader::from_bytes(&rest), header);
}

#[test]
fn contacts_round_trip() {
    let contact = scnn::apps::protein::Contact {
        i: 3,
        j: 250,
        logit: -7,
    };
    assert_eq!(
        wire::contact_from_bytes(&wire::contact_bytes(&contact)),
        contact
    );
}

#[test]
fn link_counters_round_trip_and_malformed_ones_are_refused() {
    let stats = LinkStats {
        frames: 1,
        crc: 2,
        malformed: 3,
        too_long: 4,
        timed_out: 5,
        unknown: u32::MAX,
    };
    let bytes = stats.to_bytes();
    assert_eq!(bytes[0], wire::STATS);
    assert_eq!(LinkStats::from_bytes(&bytes), Some(stats));
    assert_eq!(LinkStats::from_bytes(&bytes[..bytes.len() - 1]), None);
    let mut other = bytes;
    other[0] = wire::OK;
    assert_eq!(LinkStats::from_bytes(&other), None);
}
