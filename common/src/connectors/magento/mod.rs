//! Magento 2 REST: the status publisher for orders that came from Magento (being written).
