"""Start the pinned moto server with two fixes to its running time (not to its behaviour).

Profiling `make chaos` (py-spy on moto, 2,000 orders) showed moto, not Orderbridge, spending the
run's time, mostly in two places whose cost grows with the data held:

* SQS computes *every* queue attribute, three of which count the queue's messages (reading the
  clock per message), where it needs one setting: ReceiveMessage for each candidate message's
  retention (66 % of moto's CPU with a few thousand messages waiting) and SendMessage for the
  content-based-deduplication flag (98 % while thousands of shipments were enqueued). Here the
  retention check reads the retention period directly, and a send skips the counts it never reads.
  Listing the visible messages (every receive) reads the clock once instead of twice per message.
* DynamoDB Query lists and sorts the whole table before keeping the matching items: O(table x
  log table) per query, 64 % of moto's CPU in the shipments phase (status-push finds the channel
  order by the ERP order's index). Here a query on the table's own key looks at its partition
  only, an index query on a string hash key reads its matches from a per-index map (built once and
  kept up to date by every write; other index queries compare string keys before moto's own, much
  slower, per-item checks), and neither sorts the table (moto sorts the matches by the table's or the index's
  keys right after, so the order of the scan never shows). The filtering, sorting, paging and limits
  are moto's own code, unchanged.

Usage: python moto_server.py -H 127.0.0.1 -p PORT   (the same arguments as `moto_server`)
"""

import functools
import logging
import threading

import moto.backends

from moto.core.utils import unix_time, unix_time_millis
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import GlobalSecondaryIndex, Table
from moto.server import main
from moto.sqs.models import Queue, SQSBackend


def _retention_ok(self, queue_name, message):
    queue = self.get_queue(queue_name)
    return queue.message_retention_period + message.sent_timestamp / 1000 > unix_time()


SQSBackend.is_message_valid_based_on_retention_period = _retention_ok

_sending = threading.local()
_send_message = SQSBackend.send_message


def _send_without_counts(self, *args, **kwargs):
    _sending.active = True
    try:
        return _send_message(self, *args, **kwargs)
    finally:
        _sending.active = False


def _count_unless_sending(count):
    return property(lambda queue: 0 if getattr(_sending, "active", False) else count.fget(queue))


def _visible_messages(queue):
    # Queue.messages read the clock twice per message (visible, not delayed); once per call here.
    now = unix_time_millis()
    return [m for m in queue._messages if now > m.visible_at and not now < m.delayed_until]


Queue.messages = property(_visible_messages)
SQSBackend.send_message = _send_without_counts
for _name in (
    "approximate_number_of_messages",
    "approximate_number_of_messages_delayed",
    "approximate_number_of_messages_not_visible",
):
    setattr(Queue, _name, _count_unless_sending(getattr(Queue, _name)))

# The server finds each request's service by listing moto's package directory again (listdir and
# an isdir per entry, 7 % of its time); the directory does not change while it runs.
_modules = moto.backends.list_of_moto_modules
moto.backends.list_of_moto_modules = functools.lru_cache(maxsize=1)(lambda: tuple(_modules()))

# What a query running on this thread needs of `all_items`: (table, hash key, _, _) for a
# base-table query (that partition only), (table, None, hash key conditions, index name) for an
# index query (the items whose string index keys match, in any order).
_scope = threading.local()
_all_items = Table.all_items
_query = Table.query


def _scoped_all_items(self):
    scope = getattr(_scope, "partition", None)
    if scope is None or scope[0] is not self:
        return _all_items(self)
    if scope[1] is None:
        index = next((i for i in self.global_indexes if i.name == scope[3]), None)
        members = _gsi_members(self, index, scope[2]) if index is not None else None
        if members is not None:
            return members
        items = (
            [item for partition in list(self.items.values()) for item in list(partition.values())]
            if self.range_key_attr
            else list(self.items.values())
        )
        # String hash keys of the index compared as plain strings (exact for type S, unlike numbers),
        # so moto's own per-item checks that follow run on the few matching items only.
        wanted = [(name, value.value) for name, value in scope[2] if value.type == "S"]
        for name, text in wanted:
            items = [i for i in items if (v := i.attrs.get(name)) is not None and v.type == "S" and v.value == text]
        return items
    partition = self.items.get(scope[1])
    if partition is None:
        return []
    # Unsorted too: the query sorts the partition by its range key next.
    return list(partition.values()) if self.range_key_attr else [partition]


def _scoped_query(self, hash_key, *args, **kwargs):
    # index_name is the 8th positional parameter of Table.query (after self).
    index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
    if not index_name and hash_key is None:
        return _query(self, hash_key, *args, **kwargs)
    _scope.partition = (self, None if index_name else hash_key, kwargs.get("hash_key_conditions") or [], index_name)
    try:
        return _query(self, hash_key, *args, **kwargs)
    finally:
        _scope.partition = None


# A global secondary index's items by their (string) hash key, built in one pass over the table on
# the first query of that index and then kept up to date by every write (a put or delete moves the
# item between buckets, an update that changes an index key moves it; a transaction drops the map):
# an index query costs its matches, not the table. Like DynamoDB's own indexes it may lag a write
# still in flight on another thread.
_gsi_lock = threading.Lock()


def _index_values(table, item):
    """{index hash attribute: its string value} of `item` (attributes of another type left out)."""
    if item is None:
        return {}
    out = {}
    for index in table.global_indexes:
        for k in index.schema:
            if k["KeyType"] == "HASH":
                v = item.attrs.get(k["AttributeName"])
                if v is not None and v.type == "S":
                    out[k["AttributeName"]] = v.value
    return out


def _maps(table):
    """{index name: (hash attribute, {value: {item key: item}})} of the indexes built so far."""
    return table.__dict__.setdefault("_orderbridge_gsi", {})


def _item_key(item):
    return (item.hash_key, item.range_key)


def _move(table, item, before, after):
    """Moves `item` from the buckets of its old index values to those of its new ones."""
    with _gsi_lock:
        for attr, buckets in _maps(table).values():
            old, new = before.get(attr), after.get(attr)
            if old is not None:
                bucket = buckets.get(old)
                if bucket is not None:
                    bucket.pop(_item_key(item), None)
            if new is not None:
                buckets.setdefault(new, {})[_item_key(item)] = item


def _drop_index_maps(table):
    with _gsi_lock:
        table.__dict__["_orderbridge_gsi"] = {}


def _gsi_members(table, index, conditions):
    """The items of `index` whose hash key equals the query's, or None to let moto scan."""
    hashes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
    wanted = dict((name, value) for name, value in conditions)
    if len(hashes) != 1 or not isinstance(index, GlobalSecondaryIndex):
        return None
    value = wanted.get(hashes[0])
    if value is None or value.type != "S":
        return None
    with _gsi_lock:
        maps = _maps(table)
        if index.name not in maps:
            buckets = None
            for _ in range(10):
                try:
                    buckets = {}
                    for partition in list(table.items.values()):
                        for item in list(partition.values()) if table.range_key_attr else [partition]:
                            v = item.attrs.get(hashes[0])
                            if v is not None and v.type == "S":
                                buckets.setdefault(v.value, {})[_item_key(item)] = item
                    break
                except RuntimeError:  # the table changed under the scan (another thread's write)
                    buckets = None
            if buckets is None:
                return None
            maps[index.name] = (hashes[0], buckets)
        return list(maps[index.name][1].get(value.value, {}).values())


def _current_item(table, attrs):
    try:
        hash_value = DynamoType(attrs[table.hash_key_attr])
        range_value = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
        return table.get_item(hash_value, range_value)
    except Exception:
        return None


_table_put = Table.put_item
_table_delete = Table.delete_item
_backend_update = DynamoDBBackend.update_item
_backend_transact = DynamoDBBackend.transact_write_items


def _put_item(self, item_attrs, *args, **kwargs):
    old = _current_item(self, item_attrs)
    item = _table_put(self, item_attrs, *args, **kwargs)
    # A put replaces the item object: the old one leaves its buckets, the new one joins its own.
    if old is not None:
        _move(self, old, _index_values(self, old), {})
    _move(self, item, {}, _index_values(self, item))
    return item


def _delete_item(self, hash_key, range_key, *args, **kwargs):
    item = _table_delete(self, hash_key, range_key, *args, **kwargs)
    if item is not None:
        _move(self, item, _index_values(self, item), {})
    return item


def _update_item(self, table_name, key, *args, **kwargs):
    # Updated in place (or created): the same object, moved if an index key changed.
    table = self.get_table(table_name)
    before = _index_values(table, _current_item(table, key))
    try:
        return _backend_update(self, table_name, key, *args, **kwargs)
    finally:
        item = _current_item(table, key)
        if item is not None and _index_values(table, item) != before:
            _move(table, item, before, _index_values(table, item))


def _transact_write_items(self, *args, **kwargs):
    try:
        return _backend_transact(self, *args, **kwargs)
    finally:
        for table in list(self.tables.values()):
            _drop_index_maps(table)


Table.put_item = _put_item
Table.delete_item = _delete_item
DynamoDBBackend.update_item = _update_item
DynamoDBBackend.transact_write_items = _transact_write_items
Table.all_items = _scoped_all_items
Table.query = _scoped_query

if __name__ == "__main__":
    # One log line per request cost 7 % of moto's time; warnings and errors are still written.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    main()
