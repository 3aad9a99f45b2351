"""The key table's rows against a plain model: whatever the order of streaming, filtering,
sorting and edits, the visible rows are exactly "filter, then sort" of every row held."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from textual.app import App, ComposeResult

from kms_tui.api.wire import KeyState
from kms_tui.tui.widgets.key_table import COLUMNS, KeyRow, KeyTable
from tests.tui.conftest import APP_SIZE

WORDS = ("alpha", "beta", "gamma", "prod", "dev", "red", "blue", "ops")
STATES = (KeyState.ENABLED, KeyState.DISABLED, KeyState.PENDING_DELETION)


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield KeyTable()


def make_row(rng: random.Random, index: int) -> KeyRow:
    created = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=rng.randrange(5000))
    state = rng.choice(STATES)
    return KeyRow(
        key_id=f"key-{index:05d}-{rng.choice(WORDS)}",
        description=" ".join(rng.choice(WORDS) for _ in range(rng.randrange(3))),
        state=state,
        created=created,
        deletion_date=created + timedelta(days=9) if state is KeyState.PENDING_DELETION else None,
        tags={rng.choice(WORDS): rng.choice(WORDS)} if rng.random() < 0.5 else {},
    )


def expected_ids(table: KeyTable, rows: dict[str, KeyRow]) -> list[str]:
    column = next(c for c in COLUMNS if c.name == table.sort_column)
    needle = table.filter_text.lower()
    kept = [row for row in rows.values() if needle in row.search_text]
    # Ties keep the order the rows were first held in the model (a stable sort of a stable
    # base), so compare as sort keys plus the set of ids per key instead of raw order.
    kept.sort(key=column.sort_key, reverse=table.sort_reverse)
    return [row.key_id for row in kept]


def same_up_to_ties(table: KeyTable, rows: dict[str, KeyRow]) -> bool:
    column = next(c for c in COLUMNS if c.name == table.sort_column)
    shown = [rows[key_id] for key_id in table.visible_key_ids]
    wanted = [rows[key_id] for key_id in expected_ids(table, rows)]
    if sorted(r.key_id for r in shown) != sorted(r.key_id for r in wanted):
        return False
    return [column.sort_key(r) for r in shown] == [column.sort_key(r) for r in wanted]


async def test_visible_rows_always_match_filter_then_sort() -> None:
    app = TableApp()
    async with app.run_test(size=APP_SIZE) as pilot:
        table = app.query_one(KeyTable)
        for seed in range(60):
            rng = random.Random(seed)
            table.clear()
            table.set_filter("")
            table.sort_by("id", reverse=False)
            model: dict[str, KeyRow] = {}
            next_index = 0
            for _ in range(25):
                op = rng.choice(("page", "page", "filter", "type", "erase", "sort", "edit", "drop"))
                if op == "page":
                    batch = [make_row(rng, next_index + i) for i in range(rng.randrange(1, 40))]
                    next_index += len(batch)
                    if rng.random() < 0.3:
                        rng.shuffle(batch)
                    table.add_rows(batch)
                    model.update({row.key_id: row for row in batch})
                elif op == "filter":
                    table.set_filter(rng.choice(("", *WORDS, "key-0", "=")))
                elif op == "type":
                    table.set_filter(table.filter_text + rng.choice("abeglmoprtdu-="))
                elif op == "erase":
                    table.set_filter(table.filter_text[:-1])
                elif op == "sort":
                    table.sort_by(rng.choice(COLUMNS).name, reverse=rng.random() < 0.5)
                elif op == "edit" and model:
                    key_id = rng.choice(sorted(model))
                    changed = make_row(rng, 0)
                    row = KeyRow(
                        key_id=key_id,
                        description=changed.description,
                        state=changed.state,
                        created=changed.created,
                        deletion_date=changed.deletion_date,
                        tags=changed.tags,
                    )
                    table.update_row(row)
                    model[key_id] = row
                elif op == "drop" and model:
                    gone = rng.sample(sorted(model), k=min(3, len(model)))
                    table.remove_rows(gone)
                    for key_id in gone:
                        del model[key_id]
                assert table.total_count == len(model)
                assert same_up_to_ties(table, model), (seed, op, table.filter_text)
        await pilot.pause()


async def test_cursor_stays_on_its_key_while_the_filter_narrows_and_widens() -> None:
    app = TableApp()
    async with app.run_test(size=APP_SIZE) as pilot:
        table = app.query_one(KeyTable)
        rng = random.Random(7)
        table.add_rows([make_row(rng, i) for i in range(500)])
        target = table.visible_key_ids[321]
        assert table.move_to(target)
        for prefix_length in range(1, len(target) + 1):
            table.set_filter(target[:prefix_length])
            assert table.highlighted is not None and table.highlighted.key_id == target
        for prefix_length in range(len(target) - 1, -1, -1):
            table.set_filter(target[:prefix_length])
            assert table.highlighted is not None and table.highlighted.key_id == target
        assert table.visible_count == 500
        await pilot.pause()


async def test_streaming_in_id_order_appends_and_a_late_batch_sorts_in() -> None:
    app = TableApp()
    async with app.run_test(size=APP_SIZE) as pilot:
        table = app.query_one(KeyTable)
        rng = random.Random(3)
        rows = [make_row(rng, i) for i in range(300)]
        for start in range(100, 300, 50):
            table.add_rows(rows[start : start + 50])
        table.add_rows(rows[:100])  # a page that sorts before everything held
        assert table.visible_key_ids == sorted(row.key_id for row in rows)
        await pilot.pause()
