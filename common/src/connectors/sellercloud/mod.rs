//! Sellercloud REST client (in progress).
