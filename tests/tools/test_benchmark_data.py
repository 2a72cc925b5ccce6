import json

from tools import benchmark_data


def test_benchmark_prints_one_json_line_with_rates(capsys):
    benchmark_data.main(['--num-files', '2', '--size', '32', '64', '--nproc', '1',
                         '--pipeline-images', '1', '--pipeline-iters', '1',
                         '--pipeline-size', '53', '96'])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    for name in ('gta', 'cityscapes', 'synthia'):
        assert result['converters'][name]['files'] == 2
        assert result['converters'][name]['files_per_s'] > 0
    pipeline = result['gta_hr_pipeline']
    assert pipeline['out_img_shape'] == [3, 1024, 1024]
    assert pipeline['out_seg_shape'] == [1, 1024, 1024]
