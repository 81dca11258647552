//! The tables of docs/comparison.md: the same requests to oauth2-proxy and to Sekisho, each
//! table between two markers, written by the test that asks both. A test compares its table
//! with the page's and fails when they differ, unless `SEKISHO_WRITE_COMPARISON` is set: then
//! it rewrites the page, and the difference shows in review.

const TABLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/comparison.md");

/// Compares `table` with the one between `markers` in docs/comparison.md, or writes it there
/// when `SEKISHO_WRITE_COMPARISON` is set.
pub fn check_or_write(markers: (&str, &str), table: &str, oauth2_proxy_log: &str) {
    let (begin, end_marker) = markers;
    let table = format!("{begin}\n{table}\n{end_marker}");
    let table = table.as_str();
    let doc = std::fs::read_to_string(TABLE).unwrap_or_else(|e| panic!("read {TABLE}: {e}"));
    let (Some(start), Some(end)) = (doc.find(begin), doc.find(end_marker)) else {
        panic!("{TABLE} has no `{begin}` ... `{end_marker}` markers");
    };
    let end = end + end_marker.len();
    let current = &doc[start..end];
    if std::env::var_os("SEKISHO_WRITE_COMPARISON").is_some() {
        let updated = format!("{}{table}{}", &doc[..start], &doc[end..]);
        std::fs::write(TABLE, updated).unwrap_or_else(|e| panic!("write {TABLE}: {e}"));
        return;
    }
    assert_eq!(
        current, table,
        "the answers are not what docs/comparison.md records. If the change is meant, rewrite \
         the table by running this test with `SEKISHO_WRITE_COMPARISON=1` and say why in the \
         case. oauth2-proxy's log:\n{oauth2_proxy_log}"
    );
}

/// The reason a row shows: `why` when Sekisho's answer decides otherwise than oauth2-proxy's
/// (their first words differ: "passes", "refused", "reaches", ...), else nothing. A row whose
/// answers differ must say why, or the test fails.
pub fn shown_why(what: &str, theirs: &str, ours: &str, why: &'static str) -> &'static str {
    let differs = theirs.split(' ').next() != ours.split(' ').next();
    assert!(
        !differs || !why.is_empty(),
        "{what}: the answers differ ({theirs} / {ours}); say why in its case"
    );
    if differs { why } else { "" }
}
