"""The benchmark's statistics: mean, sample std, SEM, paired differences, early/late windows."""
import math

import pytest

from tools.synthetic.benchmark import (early_late_mean, format_regime_table, format_table,
                                       mean_by_tenth, paired_difference, plot_paired,
                                       sample_stats, summarise, tenth_means)


def test_sample_stats_gives_mean_sample_std_and_standard_error():
    stats = sample_stats([18.0, 20.0, 25.0])
    mean = (18 + 20 + 25) / 3
    std = math.sqrt(((18 - mean) ** 2 + (20 - mean) ** 2 + (25 - mean) ** 2) / 2)
    assert stats['n'] == 3
    assert stats['mean'] == pytest.approx(mean)
    assert stats['std'] == pytest.approx(std)
    assert stats['sem'] == pytest.approx(std / math.sqrt(3))


def test_sample_stats_of_one_value_has_zero_spread():
    assert sample_stats([7.5]) == dict(n=1, mean=7.5, std=0.0, sem=0.0)


def test_paired_difference_subtracts_seed_by_seed_over_the_common_seeds():
    diff = paired_difference({0: 20.0, 1: 22.0, 2: 19.0, 5: 30.0}, {0: 19.0, 1: 22.5, 2: 17.0})
    assert diff['seeds'] == [0, 1, 2]
    assert diff['diffs'] == pytest.approx([1.0, -0.5, 2.0])
    mean = 2.5 / 3
    std = math.sqrt(((1 - mean) ** 2 + (-0.5 - mean) ** 2 + (2 - mean) ** 2) / 2)
    assert diff['mean'] == pytest.approx(mean)
    assert diff['std'] == pytest.approx(std)
    assert diff['sem'] == pytest.approx(std / math.sqrt(3))


def test_paired_difference_without_common_seeds_is_none():
    assert paired_difference({0: 1.0}, {1: 1.0}) is None


def test_early_late_mean_averages_the_first_and_last_tenth_of_the_run():
    entries = [dict(mode='train', iter=i, acc=a) for i, a in
               ((50, 0.2), (100, 0.4), (150, 0.5), (900, 0.7), (950, 0.8), (1000, 0.9))]
    entries.append(dict(mode='val', iter=100, acc=0.0))  # val lines are not training
    window = early_late_mean(entries, 'acc', 1000)
    assert window['first'] == pytest.approx((0.2 + 0.4) / 2)  # iter <= 100
    assert window['last'] == pytest.approx((0.8 + 0.9) / 2)  # iter > 900
    assert early_late_mean(entries, 'missing', 1000) is None


def test_summarise_pairs_every_method_with_mic_in_percent():
    runs = [dict(method='mic', seed=s, mIoU=v) for s, v in ((0, 0.20), (1, 0.22), (2, 0.18))]
    runs += [dict(method='pcpr', seed=s, mIoU=v, proto_active_iters=575)
             for s, v in ((0, 0.21), (1, 0.21), (2, 0.20))]
    summary = summarise(runs, ['mic', 'pcpr'])
    assert 'minus_mic' not in summary['mic']
    diff = summary['pcpr']['minus_mic']
    assert diff['diffs'] == pytest.approx([1.0, -1.0, 2.0])
    assert diff['mean'] == pytest.approx(2 / 3)
    assert summary['pcpr']['sem'] == pytest.approx(summary['pcpr']['std'] / math.sqrt(3))
    assert summary['pcpr']['proto_active_iters'] == 575
    table = format_table(summary)
    assert '+0.67 +-' in table and 'act for 575 iterations' in table


def test_summarise_pairs_with_each_baseline_and_tabulates_a_column_per_baseline():
    runs = [dict(method=m, seed=s, mIoU=v) for m, values in
            (('mic', (0.20, 0.22)), ('fpc', (0.21, 0.22)), ('spec', (0.19, 0.23)))
            for s, v in enumerate(values)]
    summary = summarise(runs, ['mic', 'fpc', 'spec'], baselines=('mic', 'fpc'))
    assert summary['spec']['minus_mic']['diffs'] == pytest.approx([-1.0, 1.0])
    assert summary['spec']['minus_fpc']['diffs'] == pytest.approx([-2.0, 1.0])
    assert summary['fpc']['minus_mic']['diffs'] == pytest.approx([1.0, 0.0])
    assert 'minus_fpc' not in summary['fpc'] and 'minus_fpc' in summary['mic']
    table = format_table(summary, ('mic', 'fpc'))
    assert '- mic (paired)' in table and '- fpc (paired)' in table
    spec_line = next(line for line in table.splitlines() if line.startswith('spec'))
    assert '+0.00 +- 1.41 (1.00)' in spec_line and '-0.50 +- 2.12 (1.50)' in spec_line


def test_plot_paired_draws_a_panel_per_baseline_or_nothing(tmp_path):
    runs = [dict(method=m, seed=s, mIoU=0.2 + 0.01 * s * i) for i, m in enumerate(('mic', 'a'))
            for s in range(3)]
    summary = summarise(runs, ['mic', 'a'])
    assert plot_paired(summary, str(tmp_path / 'paired.png'), ['mic'], 'title')
    assert (tmp_path / 'paired.png').stat().st_size > 0
    assert not plot_paired(summarise(runs[:3], ['mic']), str(tmp_path / 'none.png'), ['mic'],
                           'title')
    no_common_seed = [dict(method='b', seed=7, mIoU=0.2)] + runs[:3]
    assert summarise(no_common_seed, ['mic', 'b'])['b']['minus_mic'] is None
    assert not plot_paired(summarise(no_common_seed, ['mic', 'b']), str(tmp_path / 'none.png'),
                           ['mic'], 'title')
    assert not (tmp_path / 'none.png').exists()


def test_tenth_means_average_each_tenth_of_the_run_and_mark_empty_tenths():
    entries = [dict(mode='train', iter=i, q=q) for i, q in
               ((10, 0.0), (20, 0.2), (30, 0.4), (100, 0.6), (1000, 0.9))]
    entries.append(dict(mode='val', iter=20, q=1.0))  # val lines are not training
    means = tenth_means(entries, 'q', 100)
    assert means[0] == 0.0  # the first tenth is iterations (0, 10]
    assert means[1] == pytest.approx(0.2) and means[2] == pytest.approx(0.4)
    assert means[3:9] == [None] * 6
    assert means[9] == pytest.approx(0.6)  # iter 1000 is past the run and not counted
    assert tenth_means(entries, 'missing', 100) is None


def test_regime_by_tenth_is_averaged_over_seeds_in_percent_and_tabulated():
    runs = [{'pl.q': [0.1] * 5 + [None] * 5}, {'pl.q': [0.3] * 10}, {}]
    by_tenth = mean_by_tenth(runs)
    assert by_tenth['pl.q'][0] == pytest.approx(20.0)
    assert by_tenth['pl.q'][9] == pytest.approx(30.0)
    assert set(by_tenth) == {'pl.q'}
    table = format_regime_table({'mic': dict(by_tenth=by_tenth)})
    assert 'pl.q' in table and '20.0' in table
