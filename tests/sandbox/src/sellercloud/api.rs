//! Sellercloud HTTP handlers and the Sellercloud part of the control API.

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{NaiveDate, NaiveDateTime, Utc};
use serde_json::{json, Value};

use super::{dt, ScOrder, ScPnlUpdate, DROPSHIP_STATUSES, PNL_MAX_ORDERS, STATUS_CODES};
use crate::core::{parse_decimal, parse_i64, query_pairs, SharedState, Vendor};
use crate::faults::vendor_error;
use crate::inspect::ctl_create_orders;
use crate::seed::OrderOverrides;

const V: Vendor = Vendor::Sellercloud;

fn bad(msg: impl AsRef<str>) -> Response {
    vendor_error(V, StatusCode::BAD_REQUEST, msg.as_ref())
}

/// Lower-case the path before routing (ASP.NET routes are case-insensitive).
pub async fn lowercase_path(mut req: Request) -> Request {
    let uri = req.uri();
    let lower = uri.path().to_ascii_lowercase();
    if lower != uri.path() {
        let pq = match uri.query() {
            Some(q) => format!("{lower}?{q}"),
            None => lower,
        };
        if let Ok(u) = pq.parse::<Uri>() {
            *req.uri_mut() = u;
        }
    }
    req
}

/// The vendor API (lower-case paths; see [`lowercase_path`]).
pub fn router(state: SharedState) -> Router {
    let mut r = Router::new().route("/api/token", post(token));
    for p in ["/api", "/rest/api"] {
        r = r
            .route(&format!("{p}/orders"), get(list_orders))
            .route(&format!("{p}/orders/{{id}}"), get(get_order))
            .route(&format!("{p}/orders/profitandloss"), post(profit_and_loss))
            .route(&format!("{p}/orders/setexported"), put(set_exported))
            .route(&format!("{p}/orders/statuscode"), put(set_status))
            .route(&format!("{p}/orders/shippingstatus/singlepackage"), put(ship_single_package))
            .route(&format!("{p}/orders/shippingstatus"), put(ship_tracking))
            .route(&format!("{p}/orders/{{id}}/notes"), post(add_note))
            .route(&format!("{p}/orders/{{id}}/notes/"), post(add_note))
            .route(&format!("{p}/orders/notes/{{id}}"), get(get_notes));
    }
    r.route("/rest/api/token", post(token)).with_state(state)
}

fn json_body(body: &Bytes) -> Result<Value, Response> {
    serde_json::from_slice::<Value>(body)
        .map_err(|e| bad(format!("The request is invalid: body is not valid JSON ({e}).")))
}

async fn token(State(s): State<SharedState>, body: Bytes) -> Response {
    let v = match json_body(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let user = v.get("Username").and_then(Value::as_str);
    let pass = v.get("Password").and_then(Value::as_str);
    let (Some(user), Some(pass)) = (user, pass) else {
        return bad("Username and Password are required.");
    };
    let c = &s.config().credentials;
    if !user.eq_ignore_ascii_case(&c.sellercloud_username) || pass != c.sellercloud_password {
        return vendor_error(V, StatusCode::UNAUTHORIZED, "The user name or password is incorrect.");
    }
    let ttl = s.config().sellercloud_token_ttl;
    let now = Utc::now();
    let expires = now + chrono::Duration::milliseconds(ttl.as_millis() as i64);
    let token = format!("sc.{}", uuid::Uuid::new_v4().simple());
    let mut st = s.sellercloud();
    // Expired tokens are refused on use; dropping them here keeps a long run's sandbox flat.
    st.tokens.retain(|_, t| t.expires > now);
    st.tokens.insert(token.clone(), super::ScToken { user: user.to_string(), expires });
    drop(st);
    let rfc1123 = "%a, %d %b %Y %H:%M:%S GMT";
    Json(json!({
        "access_token": token,
        "token_type": "bearer",
        "expires_in": ttl.as_secs(),
        "username": user,
        ".issued": now.format(rfc1123).to_string(),
        ".expires": expires.format(rfc1123).to_string(),
    }))
    .into_response()
}

/// Resolve the Bearer token or answer 401 "Not Valid Token" [SC5].
fn auth(s: &SharedState, h: &HeaderMap) -> Result<String, Response> {
    let token = h
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    let st = s.sellercloud();
    match token.and_then(|t| st.tokens.get(t)) {
        Some(t) if t.expires > Utc::now() => Ok(t.user.clone()),
        _ => Err(vendor_error(V, StatusCode::UNAUTHORIZED, "Not Valid Token")),
    }
}

/// Parse a documented date parameter (`mm/dd/yyyy hh:mm`, or ISO) as account-local time. Values
/// carrying an offset (`...Z`, `+02:00`) are converted into the account time zone, as .NET does.
fn parse_local(s: &str, tz: chrono_tz::Tz) -> Option<NaiveDateTime> {
    let s = s.trim();
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&tz).naive_local());
    }
    for f in ["%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(d) = NaiveDateTime::parse_from_str(s, f) {
            return Some(d);
        }
    }
    for f in ["%m/%d/%Y", "%Y-%m-%d"] {
        if let Ok(d) = NaiveDate::parse_from_str(s, f) {
            return d.and_hms_opt(0, 0, 0);
        }
    }
    None
}

/// Values of a list parameter given as repeats and/or comma lists.
fn list_param(pairs: &[(String, String)], names: &[&str]) -> Vec<String> {
    pairs
        .iter()
        .filter(|(k, _)| names.iter().any(|n| k.eq_ignore_ascii_case(n)))
        .flat_map(|(_, v)| v.split(',').map(|x| x.trim().to_string()).collect::<Vec<_>>())
        .filter(|x| !x.is_empty())
        .collect()
}

fn first_param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let with_prefix = format!("model.{name}");
    pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(&with_prefix) || k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn status_from(s: &str) -> Option<i64> {
    if let Ok(n) = s.trim().parse::<i64>() {
        return STATUS_CODES.iter().any(|(_, c)| *c == n).then_some(n);
    }
    STATUS_CODES.iter().find(|(name, _)| name.eq_ignore_ascii_case(s.trim())).map(|(_, c)| *c)
}

/// A `DropShipStatusType` name (the documented `List<string>` values) or its code.
fn dropship_from(s: &str) -> Option<i64> {
    if let Ok(n) = s.trim().parse::<i64>() {
        return DROPSHIP_STATUSES.iter().any(|(_, c)| *c == n).then_some(n);
    }
    DROPSHIP_STATUSES.iter().find(|(name, _)| name.eq_ignore_ascii_case(s.trim())).map(|(_, c)| *c)
}

async fn list_orders(State(s): State<SharedState>, h: HeaderMap, uri: Uri) -> Response {
    if let Err(r) = auth(&s, &h) {
        return r;
    }
    let pairs = query_pairs(uri.query());
    let page_number = match first_param(&pairs, "pageNumber").map(str::parse::<i64>) {
        None => 1,
        Some(Ok(n)) if n >= 1 => n,
        _ => return bad("model.pageNumber must be a positive integer."),
    };
    let page_size = match first_param(&pairs, "pageSize").map(str::parse::<i64>) {
        None => 10,
        Some(Ok(n)) if (1..=50).contains(&n) => n,
        _ => return bad("model.pageSize must be between 1 and 50."),
    };
    let companies: Result<Vec<i64>, _> =
        list_param(&pairs, &["model.companyID", "companyID"]).iter().map(|x| x.parse::<i64>()).collect();
    let Ok(companies) = companies else {
        return bad("model.companyID must be a list of integers.");
    };
    let order_ids: Result<Vec<i64>, _> =
        list_param(&pairs, &["model.orderIDs", "orderIDs"]).iter().map(|x| x.parse::<i64>()).collect();
    let Ok(order_ids) = order_ids else {
        return bad("model.orderIDs must be a list of integers.");
    };
    let mut statuses = Vec::new();
    for st in list_param(&pairs, &["model.orderStatus", "orderStatus"]) {
        match status_from(&st) {
            Some(c) => statuses.push(c),
            None => return bad(format!("model.orderStatus '{st}' is not a valid OrderStatusCode.")),
        }
    }
    let mut dropship = Vec::new();
    for st in list_param(&pairs, &["model.dropshipStatus", "dropshipStatus"]) {
        match dropship_from(&st) {
            Some(c) => dropship.push(c),
            None => return bad(format!("model.dropshipStatus '{st}' is not a valid DropShipStatusType.")),
        }
    }
    let exported = match first_param(&pairs, "exported") {
        None => -1,
        Some(x) => match x.trim().to_ascii_lowercase().as_str() {
            "-1" | "all" => -1,
            "1" | "yes" | "true" => 1,
            "0" | "no" | "false" => 0,
            _ => return bad("model.exported must be All (-1), Yes (1) or No (0)."),
        },
    };
    let from = match first_param(&pairs, "createdOnFrom") {
        None => None,
        Some(x) => match parse_local(x, s.config().sellercloud_time_zone) {
            Some(d) => Some(d),
            None => return bad("model.createdOnFrom is not a valid date (mm/dd/yyyy hh:mm)."),
        },
    };
    let to = match first_param(&pairs, "createdOnTo") {
        None => None,
        Some(x) => match parse_local(x, s.config().sellercloud_time_zone) {
            Some(d) => Some(d),
            None => return bad("model.createdOnTo is not a valid date (mm/dd/yyyy hh:mm)."),
        },
    };
    let source_ids = list_param(&pairs, &["model.orderSourceOrderIDList", "orderSourceOrderIDList"]);
    let sku = first_param(&pairs, "sku").map(str::to_string);
    let search = first_param(&pairs, "search").map(|x| x.to_ascii_lowercase());

    let st = s.sellercloud();
    let matches = |o: &&ScOrder| {
        (companies.is_empty() || companies.contains(&o.gen.company_id))
            && (order_ids.is_empty() || order_ids.contains(&o.id))
            && (statuses.is_empty() || statuses.contains(&o.status_code))
            && (dropship.is_empty() || dropship.contains(&o.dropship_status))
            && match exported {
                1 => o.is_exported,
                0 => !o.is_exported,
                _ => true,
            }
            && from.is_none_or(|f| o.created_on >= f)
            && to.is_none_or(|t| o.created_on <= t)
            && (source_ids.is_empty() || source_ids.contains(&o.gen.channel_order_id))
            && sku.as_ref().is_none_or(|k| o.gen.lines.iter().any(|l| &l.sku == k))
            && search.as_ref().is_none_or(|q| {
                o.gen.channel_order_id.to_ascii_lowercase().contains(q)
                    || o.gen.buyer.email.to_ascii_lowercase().contains(q)
                    || o.id.to_string() == *q
            })
    };
    // Stable order by ID so pages never overlap.
    let all: Vec<&ScOrder> = st.orders.values().filter(matches).collect();
    let total = all.len();
    let start = usize::try_from((page_number - 1).saturating_mul(page_size)).unwrap_or(usize::MAX);
    let items: Vec<Value> = all.iter().skip(start).take(page_size as usize).map(|o| o.summary_json()).collect();
    Json(json!({ "Items": items, "TotalResults": total })).into_response()
}

fn parse_id(id: &str) -> Result<i64, Response> {
    id.parse::<i64>().map_err(|_| bad(format!("The value '{id}' is not valid for orderID.")))
}

async fn get_order(State(s): State<SharedState>, h: HeaderMap, Path(id): Path<String>) -> Response {
    let id = match auth(&s, &h).and_then(|_| parse_id(&id)) {
        Ok(i) => i,
        Err(r) => return r,
    };
    match s.sellercloud().orders.get(&id) {
        Some(o) => Json(o.detail_json()).into_response(),
        None => vendor_error(V, StatusCode::NOT_FOUND, &format!("Order {id} not found.")),
    }
}

fn id_list(v: &Value, field: &str) -> Result<Vec<i64>, Response> {
    let arr = v
        .get(field)
        .and_then(Value::as_array)
        .ok_or_else(|| bad(format!("{field} is required and must be an array of order IDs.")))?;
    arr.iter().map(|x| parse_i64(x).ok_or_else(|| bad(format!("{field} must contain integer order IDs.")))).collect()
}

/// Session check, then the JSON body.
fn authed_body(s: &SharedState, h: &HeaderMap, body: &Bytes) -> Result<Value, Response> {
    auth(s, h)?;
    json_body(body)
}

/// Applies `f` to each listed order that exists (stamping `LastUpdated`), records a `kind` write
/// with `payload` for each one, and answers the IDs updated.
fn update_orders(s: &SharedState, ids: Vec<i64>, kind: &str, payload: Value, f: impl Fn(&mut ScOrder)) -> Response {
    let mut updated = Vec::new();
    {
        let mut st = s.sellercloud();
        let now = st.now_local();
        for id in ids {
            if let Some(o) = st.orders.get_mut(&id) {
                f(o);
                o.last_updated = now;
                updated.push(id);
            }
        }
    }
    for id in &updated {
        s.record_write(V, kind, &id.to_string(), payload.clone());
    }
    Json(json!(updated)).into_response()
}

async fn set_exported(State(s): State<SharedState>, h: HeaderMap, body: Bytes) -> Response {
    let (ids, v) = match authed_body(&s, &h, &body).and_then(|v| Ok((id_list(&v, "Orders")?, v))) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(exported) = v.get("Exported").and_then(Value::as_bool) else {
        return bad("Exported is required and must be a boolean.");
    };
    update_orders(&s, ids, "exported", json!({ "Exported": exported }), |o| o.is_exported = exported)
}

async fn set_status(State(s): State<SharedState>, h: HeaderMap, body: Bytes) -> Response {
    let (ids, v) = match authed_body(&s, &h, &body).and_then(|v| Ok((id_list(&v, "Orders")?, v))) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let status = match v.get("Status") {
        Some(Value::String(x)) => status_from(x),
        Some(x) => parse_i64(x).and_then(|n| status_from(&n.to_string())),
        None => None,
    };
    let Some(status) = status else {
        return bad("Status is required and must be a valid OrderStatusCode.");
    };
    update_orders(&s, ids, "status", json!({ "Status": status }), |o| o.status_code = status)
}

/// The `Orders` list of a ProfitAndLoss request: integers, 1 to [`PNL_MAX_ORDERS`] of them,
/// duplicates dropped (first occurrence kept).
fn pnl_ids(v: &Value) -> Result<Vec<i64>, Response> {
    let Some(obj) = v.as_object() else {
        return Err(bad("The request is invalid: body must be a JSON object {\"Orders\": [order IDs]}."));
    };
    let arr = obj
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Orders"))
        .and_then(|(_, x)| x.as_array())
        .ok_or_else(|| bad("Orders is required and must be an array of order IDs."))?;
    if arr.is_empty() {
        return Err(bad("Orders must contain at least one order ID."));
    }
    if arr.len() > PNL_MAX_ORDERS {
        return Err(bad(format!("Orders: at most {PNL_MAX_ORDERS} orders per request.")));
    }
    let mut ids: Vec<i64> = Vec::with_capacity(arr.len());
    for x in arr {
        let id = parse_i64(x).ok_or_else(|| bad("Orders must contain integer order IDs."))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// `POST Orders/ProfitAndLoss {"Orders":[…]}`: one P&L object per known order, in request
/// order; unknown IDs are left out. A read: nothing is recorded as a write.
async fn profit_and_loss(State(s): State<SharedState>, h: HeaderMap, body: Bytes) -> Response {
    let ids = match authed_body(&s, &h, &body).and_then(|v| pnl_ids(&v)) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let st = s.sellercloud();
    let out: Vec<Value> = ids.iter().filter_map(|id| st.orders.get(id)).map(ScOrder::pnl_json).collect();
    Json(Value::Array(out)).into_response()
}

struct ShipInput {
    order_id: i64,
    carrier: String,
    service: String,
    tracking: Option<String>,
    ship_date: Option<NaiveDateTime>,
    cost: Option<rust_decimal::Decimal>,
}

fn str_field(v: &Value, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| v.get(*n))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
}

fn apply_shipment(s: &SharedState, input: ShipInput) -> Response {
    let tracking_for_log;
    {
        let mut st = s.sellercloud();
        let now = st.now_local();
        let Some(created) = st.orders.get(&input.order_id).map(|o| o.created_on) else {
            return vendor_error(V, StatusCode::NOT_FOUND, &format!("Order {} not found.", input.order_id));
        };
        let ship_date = input.ship_date.unwrap_or(now);
        if ship_date > now + chrono::Duration::minutes(1) {
            return bad("ShipDate cannot be in the future.");
        }
        if ship_date < created {
            return bad("ShipDate cannot be before the order was created.");
        }
        let pid = st.next_package();
        let Some(o) = st.orders.get_mut(&input.order_id) else {
            return vendor_error(V, StatusCode::NOT_FOUND, "Order not found.");
        };
        // Once shipped, ShipDate does not change without unshipping first [SC11].
        let already = o.shipping_status == 3;
        if !already {
            o.ship_date = Some(ship_date);
        }
        o.shipping_status = 3;
        o.carrier = input.carrier.clone();
        o.service = input.service.clone();
        o.last_updated = now;
        let tracking = input.tracking.clone().unwrap_or_default();
        if let Some(p) = o.packages.first_mut() {
            p.tracking_number = tracking.clone();
            p.carrier = input.carrier.clone();
            p.service = input.service.clone();
            if input.cost.is_some() {
                p.cost = input.cost;
            }
        } else {
            o.packages.push(super::ScPackage {
                id: pid,
                tracking_number: tracking.clone(),
                carrier: input.carrier.clone(),
                service: input.service.clone(),
                ship_date: o.ship_date.unwrap_or(ship_date),
                cost: input.cost,
            });
        }
        tracking_for_log = tracking;
    }
    s.record_write(
        V,
        "shipped",
        &input.order_id.to_string(),
        json!({ "TrackingNumber": tracking_for_log, "Carrier": input.carrier }),
    );
    if !tracking_for_log.is_empty() {
        s.record_write(V, "tracking_number", &tracking_for_log, json!({ "OrderID": input.order_id }));
    }
    Json(json!(true)).into_response()
}

fn parse_ship_date(v: &Value, tz: chrono_tz::Tz) -> Result<Option<NaiveDateTime>, Response> {
    match v.get("ShipDate") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(x)) => parse_local(x, tz).map(Some).ok_or_else(|| bad("ShipDate is not a valid date.")),
        _ => Err(bad("ShipDate is not a valid date.")),
    }
}

/// `OrderID` and the carrier and service under the endpoint's own names, all required.
fn ship_fields(v: &Value, carrier: &str, service: &str) -> Result<(i64, String, String), Response> {
    let order_id = v.get("OrderID").and_then(parse_i64).ok_or_else(|| bad("OrderID is required."))?;
    let c = str_field(v, &[carrier]).ok_or_else(|| bad(format!("{carrier} is required.")))?;
    let sv = str_field(v, &[service]).ok_or_else(|| bad(format!("{service} is required.")))?;
    Ok((order_id, c, sv))
}

async fn ship_single_package(State(s): State<SharedState>, h: HeaderMap, body: Bytes) -> Response {
    let ((order_id, carrier, service), v) =
        match authed_body(&s, &h, &body).and_then(|v| Ok((ship_fields(&v, "CarrierName", "ShippingMethod")?, v))) {
            Ok(x) => x,
            Err(r) => return r,
        };
    let ship_date = match parse_ship_date(&v, s.config().sellercloud_time_zone) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let cost = match v.get("ShippingCost") {
        None | Some(Value::Null) => None,
        Some(x) => match parse_decimal(x) {
            Some(d) => Some(d),
            None => return bad("ShippingCost must be a number."),
        },
    };
    apply_shipment(
        &s,
        ShipInput { order_id, carrier, service, tracking: str_field(&v, &["TrackingNumber"]), ship_date, cost },
    )
}

async fn ship_tracking(State(s): State<SharedState>, h: HeaderMap, body: Bytes) -> Response {
    let ((order_id, carrier, service), v) = match authed_body(&s, &h, &body)
        .and_then(|v| Ok((ship_fields(&v, "ShippingCarrier", "ShippingService")?, v)))
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let ship_date = match parse_ship_date(&v, s.config().sellercloud_time_zone) {
        Ok(Some(d)) => Some(d),
        Ok(None) => return bad("ShipDate is required."),
        Err(r) => return r,
    };
    let cost = v.get("ShippingCost").and_then(parse_decimal);
    apply_shipment(
        &s,
        ShipInput { order_id, carrier, service, tracking: str_field(&v, &["TrackingNumber"]), ship_date, cost },
    )
}

async fn add_note(State(s): State<SharedState>, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Response {
    let id = match auth(&s, &h).and_then(|_| parse_id(&id)) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let v = match json_body(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let note = v.get("note").or_else(|| v.get("Note"));
    let Some(message) = note.and_then(|n| str_field(n, &["Message", "message"])) else {
        return bad("note.Message is required.");
    };
    let category = note.and_then(|n| n.get("Category").or_else(|| n.get("category"))).and_then(parse_i64).unwrap_or(0);
    if !(0..=2).contains(&category) {
        return bad("note.Category must be 0, 1 or 2.");
    }
    let nid = {
        let mut st = s.sellercloud();
        if !st.orders.contains_key(&id) {
            return vendor_error(V, StatusCode::NOT_FOUND, &format!("Order {id} not found."));
        }
        let now = st.now_local();
        st.add_note(id, category, message.clone(), now)
    };
    s.record_write(V, "note", &id.to_string(), json!({ "Message": message }));
    Json(json!(nid)).into_response()
}

async fn get_notes(State(s): State<SharedState>, h: HeaderMap, Path(id): Path<String>) -> Response {
    let id = match auth(&s, &h).and_then(|_| parse_id(&id)) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let st = s.sellercloud();
    if !st.orders.contains_key(&id) {
        return vendor_error(V, StatusCode::NOT_FOUND, &format!("Order {id} not found."));
    }
    let user = s.config().credentials.sellercloud_username.clone();
    let notes: Vec<Value> = st
        .notes
        .get(&id)
        .map(|ns| {
            ns.iter()
                .map(|n| {
                    json!({
                        "EntityID": id, "Category": n.category, "NoteID": n.note_id,
                        "Note": n.message, "AuditData": { "CreatedOn": dt(&n.created) },
                        "CreatedBy": 1, "CreatedByName": "API", "CreatedByEmail": user,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Json(json!(notes)).into_response()
}

// ------------------------------------------------------------------------------------------
// Control API
// ------------------------------------------------------------------------------------------

impl SharedState {
    /// Create `count` Sellercloud orders now (status InProcess, not exported). Returns their IDs.
    pub fn sellercloud_create_orders(&self, count: usize, ov: &OrderOverrides) -> Vec<i64> {
        let seed = self.config().seed;
        let data = self.0.seed_data.clone();
        let mut st = self.sellercloud();
        (0..count.max(1))
            .map(|_| {
                st.on_demand += 1;
                let g = data.on_demand(seed, 0x5c, st.on_demand, Utc::now(), "SC", ov);
                st.insert(g, 2, false)
            })
            .collect()
    }
}

/// Changes of one order the control API makes (what a user or the channel would change in
/// Sellercloud itself): when it was created, its company, order status and dropship status.
#[derive(Debug, Default, serde::Deserialize)]
pub struct ScOrderUpdate {
    /// Account-local (`2024-05-01T10:00:00`) or with an offset (converted to the account zone).
    #[serde(default, alias = "CreatedOn")]
    pub created_on: Option<String>,
    #[serde(default, alias = "CompanyId")]
    pub company_id: Option<i64>,
    /// Status name or code.
    #[serde(default, alias = "StatusCode")]
    pub status: Option<Value>,
    /// Dropship status name or code.
    #[serde(default, alias = "DropshipStatus")]
    pub dropship_status: Option<Value>,
    #[serde(default, alias = "IsExported")]
    pub exported: Option<bool>,
}

fn code_of(v: &Value, parse: fn(&str) -> Option<i64>) -> Option<i64> {
    match v {
        Value::String(x) => parse(x),
        other => parse_i64(other).and_then(|n| parse(&n.to_string())),
    }
}

impl SharedState {
    /// Applies `update` to Sellercloud order `id`; the error says what was wrong.
    pub fn sellercloud_update_order(&self, id: i64, update: &ScOrderUpdate) -> Result<(), String> {
        let tz = self.config().sellercloud_time_zone;
        let created = match &update.created_on {
            None => None,
            Some(x) => Some(parse_local(x, tz).ok_or_else(|| format!("created_on {x:?} is not a date"))?),
        };
        let status = match &update.status {
            None => None,
            Some(v) => Some(code_of(v, status_from).ok_or_else(|| format!("status {v} is not an OrderStatusCode"))?),
        };
        let dropship = match &update.dropship_status {
            None => None,
            Some(v) => Some(
                code_of(v, dropship_from).ok_or_else(|| format!("dropship_status {v} is not a DropShipStatusType"))?,
            ),
        };
        let mut st = self.sellercloud();
        let o = st.orders.get_mut(&id).ok_or_else(|| format!("order {id} not found"))?;
        if let Some(c) = created {
            o.created_on = c;
        }
        if let Some(c) = update.company_id {
            o.gen.company_id = c;
        }
        if let Some(c) = status {
            o.status_code = c;
        }
        if let Some(c) = dropship {
            o.dropship_status = c;
        }
        if let Some(e) = update.exported {
            o.is_exported = e;
        }
        Ok(())
    }
}

impl SharedState {
    /// Changes the P&L state of Sellercloud order `id` (e.g. imports its settlement with
    /// `settled: Some(true)`); the error says what was wrong.
    pub fn sellercloud_set_pnl(&self, id: i64, update: &ScPnlUpdate) -> Result<(), String> {
        let mut st = self.sellercloud();
        let o = st.orders.get_mut(&id).ok_or_else(|| format!("order {id} not found"))?;
        o.pnl.apply(update);
        Ok(())
    }

    /// Exactly the object `POST Orders/ProfitAndLoss` answers for order `id`.
    pub fn sellercloud_pnl(&self, id: i64) -> Option<Value> {
        self.sellercloud().orders.get(&id).map(ScOrder::pnl_json)
    }
}

/// `/_sandbox/...` routes specific to Sellercloud (lower-case; the path is lower-cased first).
pub fn control_router(state: SharedState) -> Router {
    Router::new()
        .route("/_sandbox/orders", post(ctl_create).get(ctl_list))
        .route("/_sandbox/orders/{id}", put(ctl_update))
        .route("/_sandbox/orders/{id}/profitandloss", put(ctl_set_pnl).get(ctl_get_pnl))
        .route("/_sandbox/state", get(ctl_state))
        .with_state(state)
}

async fn ctl_create(State(s): State<SharedState>, body: Bytes) -> Response {
    ctl_create_orders(&body, |n, ov| s.sellercloud_create_orders(n, ov))
}

/// `PUT /_sandbox/orders/{id}` with a [`ScOrderUpdate`] body.
async fn ctl_update(State(s): State<SharedState>, Path(id): Path<String>, body: Bytes) -> Response {
    let id = match parse_id(&id) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let update: ScOrderUpdate = match serde_json::from_slice(&body) {
        Ok(u) => u,
        Err(e) => return bad(format!("The request is invalid: {e}.")),
    };
    match s.sellercloud_update_order(id, &update) {
        Ok(()) => match s.sellercloud().orders.get(&id) {
            Some(o) => Json(o.summary_json()).into_response(),
            None => vendor_error(V, StatusCode::NOT_FOUND, "Order not found."),
        },
        Err(e) if e.contains("not found") => vendor_error(V, StatusCode::NOT_FOUND, &e),
        Err(e) => bad(e),
    }
}

/// `PUT /_sandbox/orders/{id}/profitandloss` with a [`ScPnlUpdate`] body; answers the new P&L.
async fn ctl_set_pnl(State(s): State<SharedState>, Path(id): Path<String>, body: Bytes) -> Response {
    let id = match parse_id(&id) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let update: ScPnlUpdate = match serde_json::from_slice(&body) {
        Ok(u) => u,
        Err(e) => return bad(format!("The request is invalid: {e}.")),
    };
    if let Err(e) = s.sellercloud_set_pnl(id, &update) {
        return vendor_error(V, StatusCode::NOT_FOUND, &e);
    }
    ctl_get_pnl(State(s), Path(id.to_string())).await
}

/// `GET /_sandbox/orders/{id}/profitandloss`: what the vendor endpoint answers for that order.
async fn ctl_get_pnl(State(s): State<SharedState>, Path(id): Path<String>) -> Response {
    let id = match parse_id(&id) {
        Ok(i) => i,
        Err(r) => return r,
    };
    match s.sellercloud_pnl(id) {
        Some(v) => Json(v).into_response(),
        None => vendor_error(V, StatusCode::NOT_FOUND, &format!("Order {id} not found.")),
    }
}

async fn ctl_list(State(s): State<SharedState>) -> Json<Value> {
    let st = s.sellercloud();
    let orders: Vec<Value> = st
        .orders
        .values()
        .map(|o| {
            let mut v = o.summary_json();
            v["Tracking"] = json!(o.packages.iter().map(|p| p.tracking_number.clone()).collect::<Vec<_>>());
            v
        })
        .collect();
    Json(json!(orders))
}

async fn ctl_state(State(s): State<SharedState>) -> Json<Value> {
    let st = s.sellercloud();
    let exported = st.orders.values().filter(|o| o.is_exported).count();
    let shipped = st.orders.values().filter(|o| o.shipping_status == 3).count();
    Json(json!({
        "orders": st.orders.len(),
        "exported": exported,
        "not_exported": st.orders.len() - exported,
        "shipped": shipped,
        "notes": st.notes.values().map(Vec::len).sum::<usize>(),
        "writes": s.write_counts(V),
        "time_zone": st.tz.name(),
    }))
}
