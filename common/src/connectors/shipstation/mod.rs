//! ShipStation V1: shipments read back from the shipping tool (being written).
