//! BigCommerce v2 Orders client (in progress).
