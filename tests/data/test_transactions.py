import numpy as np
import pandas as pd
import pytest

from clvframe.data.summary import calibration_and_holdout
from clvframe.data.summary import summarise
from clvframe.data.transactions import prepare_transactions
from clvframe.data.transactions import purchase_periods
from clvframe.errors import ConfigError
from clvframe.errors import DataValidationError
from clvframe.errors import DataWarning


def triples(summary: pd.DataFrame) -> dict[str, tuple[float, float, float, float]]:
    return {
        cid: (
            row["frequency"],
            round(row["recency"], 4),
            round(row["T"], 4),
            row["monetary_value"],
        )
        for cid, row in summary.iterrows()
    }


def test_same_day_orders_are_one_period(read_case):
    log = read_case("same-day-orders.csv")
    summary = summarise(log, observation_end="2022-03-31", time_unit="day")
    assert triples(summary) == {"A": (0, 0, 30, 0), "B": (1, 10, 30, 20)}


def test_day_first_dates_need_a_format(read_case):
    with pytest.raises(
        DataValidationError, match=r"'07/02/2021' \(line 2\).*date_format"
    ):
        read_case("day-first-dates.csv")
    log = read_case("day-first-dates.csv", date_format="%d/%m/%Y")
    summary = summarise(log, observation_end="2021-06-30", time_unit="day")
    assert triples(summary) == {"A": (1, 33, 143, 45), "B": (0, 0, 88, 0)}


def test_rows_after_observation_end_are_counted(read_case):
    log = read_case("rows-after-observation-end.csv")
    with pytest.warns(DataWarning, match=r"2 rows fall after .* 1 customers .* 'E2'"):
        summary = summarise(log, observation_end="2023-09-30", time_unit="day")
    assert triples(summary) == {"E1": (1, 19, 29, 20), "E3": (0, 0, 20, 0)}


def test_observation_end_before_all_data_is_an_error(read_case):
    log = read_case("rows-after-observation-end.csv")
    with pytest.raises(
        DataValidationError, match="2023-08-01 falls before .* 2023-09-01"
    ):
        summarise(log, observation_end="2023-08-01")


def test_duplicate_rows_are_counted_and_optionally_dropped(read_case):
    with pytest.warns(DataWarning, match="3 rows are exact duplicates.*kept"):
        kept = read_case("duplicate-rows.csv")
    with pytest.warns(DataWarning, match="3 rows are exact duplicates.*dropped"):
        deduplicated = read_case("duplicate-rows.csv", deduplicate=True)
    summary = summarise(deduplicated, observation_end="2023-07-31", time_unit="day")
    assert triples(summary) == {"D": (2, 30, 60, 32.5)}
    assert summary.loc["D", "total_spend"] == 95
    assert summarise(kept, observation_end="2023-07-31")["total_spend"].iloc[0] == 190


def test_refunds_default_policy(read_case):
    log = read_case("refunds.csv")
    summary = summarise(log, observation_end="2023-02-28", time_unit="day")
    assert triples(summary) == {
        "R1": (0, 0, 54, 0),
        "R2": (0, 0, 56, 0),
        "R3": (1, 15, 49, 42),
    }
    assert summary["total_spend"].to_dict() == {"R1": 100, "R2": 0, "R3": 67}


def test_refunds_other_policies(read_case):
    log = read_case("refunds.csv")
    with pytest.raises(DataValidationError, match="3 rows have negative amounts"):
        summarise(log, returns="fail")
    with pytest.warns(DataWarning, match="3 rows have negative amounts.*left out"):
        dropped = summarise(log, returns="drop", observation_end="2023-02-28")
    # Without returns, R1's day of +60/-60 is a plain 60 purchase.
    assert dropped.loc["R1", "frequency"] == 1
    with pytest.raises(ConfigError, match="returns must be one of"):
        purchase_periods(log, returns="keep")


def test_text_amounts_name_the_line(read_case):
    with pytest.raises(
        DataValidationError, match=r"column 'amount': 1 values .* 'N/A' \(line 5\)"
    ):
        read_case("text-amounts.csv")
    with pytest.warns(
        DataWarning, match="'N/A' \\(line 5\\); those rows were left out"
    ):
        log = read_case("text-amounts.csv", invalid_amounts="drop")
    summary = summarise(log, observation_end="2023-03-09", time_unit="day")
    assert triples(summary) == {"S1": (1, 7, 8, 1250), "S2": (1, 7, 7, 7.25)}


def test_decimal_comma_is_not_misread():
    raw = pd.DataFrame(
        {"customer_id": ["a"], "timestamp": ["2023-01-01"], "amount": ["12,5"]}
    )
    with pytest.raises(DataValidationError, match="'12,5'"):
        prepare_transactions(raw)


def test_customer_ids_stay_strings(read_case):
    with pytest.warns(DataWarning, match=r"2 rows have no customer_id \(amount 55.00"):
        log = read_case("customer-ids.csv")
    summary = summarise(log, observation_end="2023-03-10", time_unit="day")
    assert triples(summary) == {
        "101": (1, 4, 9, 20),
        "102": (0, 0, 8, 0),
        "00123": (1, 4, 7, 18),
        "123": (0, 0, 2, 0),
    }


def test_float_ids_lose_no_digits():
    raw = pd.DataFrame(
        {"customer_id": [123.0, 7.0], "timestamp": ["2023-01-01"] * 2, "amount": [1, 2]}
    )
    assert list(prepare_transactions(raw)["customer_id"]) == ["123", "7"]


def test_week_boundaries_change_nothing(read_case):
    log = read_case("week-boundaries.csv")
    summary = summarise(log, observation_end="2021-02-28", time_unit="week")
    assert triples(summary) == {
        "W1": (1, 0.8571, 7.5714, 11),
        "W2": (1, 0.1429, 7.0, 13),
        "W3": (1, 0.8571, 7.8571, 15),
    }


def test_units_scale_and_months_are_stated(read_case):
    log = read_case("week-boundaries.csv")
    days = summarise(log, observation_end="2021-02-28", time_unit="day")
    months = summarise(
        log, observation_end="2021-02-28", time_unit="month", month_days=30
    )
    np.testing.assert_allclose(months["T"], days["T"] / 30)
    with pytest.raises(ConfigError, match="'fortnight' is not supported"):
        summarise(log, time_unit="fortnight")


def test_holdout_spend_sums_same_day_orders(read_case):
    log = read_case("holdout-spend.csv")
    frame = calibration_and_holdout(
        log, calibration_end="2022-05-31", observation_end="2022-06-30", time_unit="day"
    )
    row = frame.loc["M"]
    assert (row["frequency"], row["recency"], row["T"], row["monetary_value"]) == (
        1,
        18,
        29,
        60,
    )
    assert row.frequency_holdout == 2
    assert row.monetary_value_holdout == 60
    assert row.spend_holdout == 120
    assert row.duration_holdout == 30


def test_customers_first_seen_in_holdout_are_counted():
    raw = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b"],
            "timestamp": ["2023-01-01", "2023-02-10", "2023-02-05"],
            "amount": [10, 20, 30],
        }
    )
    frame = calibration_and_holdout(
        prepare_transactions(raw), calibration_end="2023-01-31"
    )
    assert list(frame.index) == ["a"]
    assert frame.attrs["n_new_in_holdout"] == 1


def test_missing_column_names_the_mapping():
    raw = pd.DataFrame({"cust": ["a"], "date": ["2023-01-01"], "value": ["1"]})
    with pytest.raises(DataValidationError, match=r"amount \(from 'amount'\)"):
        prepare_transactions(raw, columns={"customer_id": "cust", "timestamp": "date"})


def test_timezone_aware_stamps_convert_to_business_zone():
    raw = pd.DataFrame(
        {
            "customer_id": ["a", "a"],
            "timestamp": ["2023-01-01T23:30:00+00:00", "2023-01-03T01:00:00+02:00"],
            "amount": [1, 1],
        }
    )
    log = prepare_transactions(raw, business_timezone="America/New_York")
    assert list(log["timestamp"].dt.day) == [1, 2]


def _naive_summary(log: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame:
    """A per-customer loop, written independently of the vectorised code."""
    rows = {}
    for cid, group in log.groupby("customer_id"):
        by_day = group.groupby(group["timestamp"].dt.normalize())["amount"].sum()
        days = sorted(by_day.index)
        first, last = days[0], days[-1]
        repeat = [by_day[d] for d in days[1:]]
        rows[cid] = {
            "frequency": len(days) - 1,
            "recency": (last - first).days / 7,
            "T": (end - first).days / 7,
            "monetary_value": float(np.mean(repeat)) if repeat else 0.0,
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def test_summary_matches_a_naive_loop_on_random_logs():
    rng = np.random.default_rng(7)
    n = 3000
    log = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 400, n).astype(str),
            "timestamp": pd.Timestamp("2022-01-01")
            + pd.to_timedelta(rng.integers(0, 200 * 24, n), unit="h"),
            "amount": rng.gamma(2.0, 20.0, n).round(2),
        }
    )
    log = prepare_transactions(log)
    summary = summarise(log).sort_index()
    expected = _naive_summary(log, log["timestamp"].max().normalize()).sort_index()
    pd.testing.assert_frame_equal(
        summary[expected.columns],
        expected,
        check_dtype=False,
        check_names=False,
        check_index_type=False,
    )
    assert ((summary["frequency"] == 0) | (summary["recency"] > 0)).all()
    assert (summary["recency"] <= summary["T"]).all()


def _naive_periods_summary(
    log: pd.DataFrame, end: pd.Timestamp, grain: str
) -> pd.DataFrame:
    """Per-customer loop over purchase periods under the "net" returns policy.

    A period (a day, or one timestamp on the exact grain) with a return
    counts only if its net amount is positive; T runs to the end of the last
    observed day on the exact grain.
    """
    day = pd.Timedelta(days=1)
    end_of_observation = end + day if grain == "exact" else end
    rows = {}
    for cid, group in log.groupby("customer_id"):
        stamps = (
            group["timestamp"].dt.normalize() if grain == "day" else group["timestamp"]
        )
        periods = group.groupby(stamps)["amount"].agg(["sum", "min"])
        periods = periods[(periods["min"] >= 0) | (periods["sum"] > 0)]
        if periods.empty:
            continue
        times = sorted(periods.index)
        first, last = times[0], times[-1]
        repeat = [periods.loc[t, "sum"] for t in times[1:]]
        rows[cid] = {
            "frequency": len(times) - 1,
            "recency": (last - first) / day / 7,
            "T": (end_of_observation - first) / day / 7,
            "monetary_value": float(np.mean(repeat)) if repeat else 0.0,
            "first_purchase": first,
        }
    return pd.DataFrame.from_dict(rows, orient="index")


@pytest.mark.parametrize("grain", ["day", "exact"])
@pytest.mark.parametrize("resolution", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("in_order", [True, False])
def test_summary_matches_a_naive_loop_with_returns(grain, resolution, in_order):
    # Any timestamp resolution, sorted or shuffled rows, same-time orders and
    # returns that cancel a period: the vectorised summary equals the loop.
    rng = np.random.default_rng(11)
    n = 1000
    log = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 150, n).astype(str),
            "timestamp": pd.Timestamp("2021-03-01")
            + pd.to_timedelta(rng.integers(0, 90 * 24, n) * 3600, unit="s"),
            "amount": np.where(
                rng.random(n) < 0.1, -rng.gamma(2.0, 20.0, n), rng.gamma(2.0, 20.0, n)
            ).round(2),
        }
    )
    # A customer with nothing but a return has no purchase period.
    log.loc[n] = ["only-return", pd.Timestamp("2021-04-01"), -10.0]
    log = prepare_transactions(log)
    log["timestamp"] = log["timestamp"].astype(f"datetime64[{resolution}]")
    log = log.sort_values(["customer_id", "timestamp"], kind="stable")
    if not in_order:
        log = log.sample(frac=1.0, random_state=3)
    with pytest.warns(DataWarning, match="1 customers have no purchase period"):
        summary = summarise(log, grain=grain).sort_index()
    assert "only-return" not in summary.index
    end = log["timestamp"].max().normalize()
    expected = _naive_periods_summary(log, end, grain).sort_index()
    pd.testing.assert_frame_equal(
        summary[expected.columns],
        expected,
        check_dtype=False,
        check_names=False,
        check_index_type=False,
    )


def test_naive_stamps_stay_in_the_business_zone_beside_aware_ones():
    raw = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a"],
            "timestamp": [
                "2020-02-10T10:00:00+02:00",
                "2020-02-10T10:00:00-05:00",
                "2020-02-10T02:00:00",
            ],
            "amount": [1, 2, 3],
        }
    )
    log = prepare_transactions(raw, business_timezone="America/New_York")
    assert [str(t) for t in log["timestamp"]] == [
        "2020-02-10 03:00:00",
        "2020-02-10 10:00:00",
        "2020-02-10 02:00:00",
    ]


def test_unknown_time_zone_is_a_config_error():
    raw = pd.DataFrame(
        {"customer_id": ["a"], "timestamp": ["2020-01-01"], "amount": [1]}
    )
    with pytest.raises(ConfigError, match="'Mars/Olympus' is not a time zone"):
        prepare_transactions(raw, business_timezone="Mars/Olympus")


def test_infinite_amounts_are_not_numbers():
    raw = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "timestamp": ["2020-01-01"] * 2,
            "amount": ["inf", "1"],
        }
    )
    with pytest.raises(DataValidationError, match=r"1 values are not numbers: 'inf'"):
        prepare_transactions(raw)


def test_error_names_the_file_column(read_case):
    with pytest.raises(DataValidationError, match=r"'timestamp' \(read from 'date'\)"):
        read_case("day-first-dates.csv")


@pytest.mark.parametrize("setting", ["01/02/2020", "2020/01/02", "next week"])
def test_date_settings_must_be_iso(read_case, setting):
    log = read_case("same-day-orders.csv")
    with pytest.raises(ConfigError, match="data.observation_end: .* not an ISO 8601"):
        summarise(log, observation_end=setting)


def test_aware_stamps_in_a_canonical_log_are_refused():
    # Days begin at the business's midnight; an aware log does not say which.
    log = pd.DataFrame(
        {
            "customer_id": ["a", "a"],
            "timestamp": pd.to_datetime(
                ["2022-01-01 10:00", "2022-01-10 10:00"]
            ).tz_localize("Asia/Tokyo"),
            "amount": [10.0, 20.0],
        }
    )
    with pytest.raises(DataValidationError, match="time-zone aware.*business_timezone"):
        summarise(log)


@pytest.mark.parametrize("year", [1600, 2300])
def test_dates_outside_the_nanosecond_range(year):
    # Second-resolution stamps reach far beyond 1677-2262.
    stamps = pd.to_datetime([f"{year}-01-01", f"{year}-01-10", f"{year}-02-01"])
    log = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b"],
            "timestamp": stamps.astype("datetime64[s]"),
            "amount": [10.0, 20.0, 5.0],
        }
    )
    summary = summarise(log, time_unit="day")
    assert summary.loc["a", ["frequency", "recency", "T"]].tolist() == [1, 9, 31]
    assert summary.loc["b", "T"] == 0
