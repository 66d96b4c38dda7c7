//! Fuzzing entry (see `crate::fuzzing`): Sellercloud's response bodies through the client's own
//! decoding and the mapper, as `list_new_orders`, `fetch_order` and the error hooks read them.

use chrono::{TimeZone, Utc};
use secrecy::SecretString;

use super::client::WalkToken;
use super::config::SellercloudConfig;
use super::mapper::{error_message, rate_limit_reset, to_order};
use super::wire::{NoteWire, OrderList, OrderWire, TokenResponse};
use crate::model::ConnectionId;

/// `docs[0]`: a body as any endpoint returns it (order, listing page, notes, token, error);
/// `docs[1]`: the next listing page of a walk.
pub fn wire(docs: &[&[u8]]) {
    let body = docs.first().copied().unwrap_or_default();
    let now = Utc.timestamp_opt(1_714_557_600, 0).single().unwrap_or_default();
    let _ = error_message(body);
    let _ = rate_limit_reset(body, now);
    let _ = serde_json::from_slice::<TokenResponse>(body);
    let instructions = serde_json::from_slice::<Vec<NoteWire>>(body).ok().map(|notes| {
        notes.into_iter().filter(|n| n.Category == Some(1)).filter_map(|n| n.Note).collect::<Vec<_>>().join("\n")
    });
    if let Ok(order) = serde_json::from_slice::<OrderWire>(body) {
        let config = SellercloudConfig::new("https://t.api.sellercloud.com", "u", SecretString::from("p".to_owned()));
        let connection = ConnectionId::parse("sc-main").unwrap_or_else(|_| unreachable!("a valid id"));
        if let Ok(mapped) = to_order(&order, &connection, &config, instructions) {
            let _ = mapped.check_totals();
        }
    }
    // A walk over the queue: the first page's total in the token, the next page's total steps back.
    if let Ok(first) = serde_json::from_slice::<OrderList>(body) {
        let walk = WalkToken { page: 2, total: first.TotalResults.unwrap_or_default(), from: now.timestamp() };
        assert_eq!(WalkToken::decode(&walk.encode()), Some(walk), "a page token round-trips");
        if let Some(Ok(next)) = docs.get(1).map(|d| serde_json::from_slice::<OrderList>(d)) {
            let page = walk.stepped_back(next.TotalResults.unwrap_or(walk.total), 50);
            assert!((1..=walk.page).contains(&page), "stepped back to page {page}");
        }
    }
}
