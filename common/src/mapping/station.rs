//! The station order an ERP shipment becomes (pure: the export flow reads the shipment and the
//! settings first, then calls this).

use chrono_tz::Tz;

use crate::model::{
    missing_address_fields, station_order_date, IncompleteAddress, OutboundShipment, OutboundState, StationExport,
    StationItem, StationOrder, StationOrderNumber, StationStatus,
};

/// Why a shipment is not exported (now).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StationOrderError {
    /// The label needs address fields the ERP shipment lacks; exported once they are filled in.
    #[error("shipment {shipment}: {missing}; fill it in on the ERP shipment and it is exported")]
    Incomplete { shipment: String, missing: IncompleteAddress },
    #[error("shipment {shipment}: no lines to ship")]
    NoLines { shipment: String },
    #[error("shipment {shipment}: no business date")]
    NoDate { shipment: String },
}

/// The station order key of a shipment: its source (`AC-000123`), and `-{generation}` from the
/// second generation on (a cancelled station order cannot be reopened, so a reinstated shipment
/// gets a new one).
pub fn station_order_key(shipment: &OutboundShipment, generation: u32) -> String {
    if generation <= 1 {
        shipment.source.to_string()
    } else {
        format!("{}-{generation}", shipment.source)
    }
}

/// The station order for `shipment` (its `generation`), in the station's zone `station_zone`.
pub fn station_order(
    shipment: &OutboundShipment,
    generation: u32,
    settings: &StationExport,
    station_zone: Tz,
) -> Result<StationOrder, StationOrderError> {
    let name = shipment.source.to_string();
    let status = match shipment.state {
        OutboundState::OnHold => StationStatus::OnHold,
        OutboundState::Canceled => StationStatus::Cancelled,
        _ => StationStatus::AwaitingShipment,
    };
    // A cancellation is passed on whatever the address; anything else needs a label's address.
    if status != StationStatus::Cancelled {
        let missing = missing_address_fields(&shipment.ship_to);
        if !missing.is_empty() {
            return Err(StationOrderError::Incomplete { shipment: name, missing: IncompleteAddress(missing) });
        }
    }
    if shipment.lines.is_empty() {
        return Err(StationOrderError::NoLines { shipment: name });
    }
    let date = shipment.shipment_date.ok_or_else(|| StationOrderError::NoDate { shipment: name.clone() })?;
    let number = match settings.order_number {
        StationOrderNumber::Order => {
            shipment.orders.first().map(|o| o.order_nbr.to_string()).unwrap_or_else(|| shipment.source.id.clone())
        }
        StationOrderNumber::Shipment => shipment.source.id.clone(),
    };
    let items = shipment
        .lines
        .iter()
        .map(|l| StationItem {
            line_key: l.line_nbr.to_string(),
            sku: l.sku.clone(),
            name: if l.description.trim().is_empty() { l.sku.clone() } else { l.description.clone() },
            quantity: l.quantity,
            unit_price: l.unit_price,
            unit_weight_lb: l.unit_weight_lb,
        })
        .collect();
    let requested_service = shipment
        .ship_via
        .as_deref()
        .map(|v| settings.ship_via.get(v.trim()).cloned().unwrap_or_else(|| v.trim().to_owned()));
    let orders: Vec<String> = shipment.orders.iter().map(ToString::to_string).collect();
    Ok(StationOrder {
        key: station_order_key(shipment, generation),
        number,
        order_date: station_order_date(date, settings.erp_tz(), station_zone),
        status,
        ship_to: shipment.ship_to.clone(),
        bill_to: shipment.bill_to.clone().unwrap_or_else(|| shipment.ship_to.clone()),
        items,
        requested_service,
        notes: shipment.note.clone().filter(|n| !n.trim().is_empty()),
        store_id: settings.store_id,
        weight_lb: shipment
            .packages
            .iter()
            .map(|p| p.weight_lb)
            .sum::<Option<rust_decimal::Decimal>>()
            .filter(|w| *w > rust_decimal::Decimal::ZERO),
        erp_reference: if orders.is_empty() { name } else { format!("{name} ({})", orders.join(", ")) },
    })
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, Utc};
    use rust_decimal_macros::dec;

    use super::*;
    use crate::model::{Address, ErpOrderRef, OutboundLine, OutboundPackage, ShipmentSource, SystemCode};

    fn shipment() -> OutboundShipment {
        OutboundShipment {
            source: ShipmentSource::new(SystemCode::parse("AC").unwrap(), "000123"),
            state: OutboundState::Open,
            erp_status: "Open".into(),
            shipment_date: NaiveDate::from_ymd_opt(2026, 11, 30),
            last_modified: Utc::now(),
            ship_via: Some("UPSGROUND".into()),
            customer_id: Some("C001".into()),
            orders: vec![ErpOrderRef::parse("SO/SO000456").unwrap()],
            ship_to: Address {
                name: "Ann Lee".into(),
                line1: "1 Main St".into(),
                city: "Denver".into(),
                region: Some("CO".into()),
                postal_code: Some("80202".into()),
                country: "US".into(),
                ..Address::default()
            },
            bill_to: None,
            lines: vec![OutboundLine {
                line_nbr: 1,
                order_line_nbr: Some(1),
                sku: "WATER2809".into(),
                description: "Water bottle".into(),
                quantity: dec!(2),
                unit_price: Some(dec!(12.50)),
                unit_weight_lb: Some(dec!(1.2)),
            }],
            packages: vec![OutboundPackage {
                id: "p1".into(),
                box_id: Some("DEFAULT".into()),
                tracking: None,
                weight_lb: None,
            }],
            note: Some("Leave at the back door".into()),
        }
    }

    fn settings() -> StationExport {
        toml::from_str("erp_time_zone = \"America/Denver\"\nstore_id = 123456\n[ship_via]\nUPSGROUND = \"UPS Ground\"")
            .unwrap()
    }

    #[test]
    fn a_shipment_becomes_a_station_order_keyed_on_the_shipment_with_its_day_and_service() {
        let pacific: Tz = "America/Los_Angeles".parse().unwrap();
        let order = station_order(&shipment(), 1, &settings(), pacific).unwrap();
        assert_eq!(order.key, "AC-000123");
        assert_eq!(order.number, "000123");
        assert_eq!(order.order_date.to_string(), "2026-11-30 11:00:00");
        assert_eq!(order.status, StationStatus::AwaitingShipment);
        assert_eq!(order.requested_service.as_deref(), Some("UPS Ground"));
        assert_eq!(order.store_id, Some(123456));
        assert_eq!(order.items[0].quantity, dec!(2));
        assert_eq!(order.erp_reference, "AC-000123 (SO/SO000456)");
        let mut by_order = settings();
        by_order.order_number = StationOrderNumber::Order;
        assert_eq!(station_order(&shipment(), 2, &by_order, pacific).unwrap().number, "SO000456");
        assert_eq!(station_order(&shipment(), 2, &by_order, pacific).unwrap().key, "AC-000123-2");
    }

    #[test]
    fn an_incomplete_address_stops_the_export_with_what_is_missing_but_never_a_cancellation() {
        let mut s = shipment();
        s.ship_to.city = String::new();
        s.ship_to.postal_code = None;
        let err = station_order(&s, 1, &settings(), chrono_tz::UTC).unwrap_err();
        assert_eq!(
            err.to_string(),
            "shipment AC-000123: the ship-to address lacks city, postal code; fill it in on the ERP shipment and it is exported"
        );
        s.state = OutboundState::Canceled;
        assert_eq!(station_order(&s, 1, &settings(), chrono_tz::UTC).unwrap().status, StationStatus::Cancelled);
        s.state = OutboundState::OnHold;
        assert!(station_order(&s, 1, &settings(), chrono_tz::UTC).is_err());
    }
}
