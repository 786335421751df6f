"""The README's sample simple configs work on the bundled default model."""
import json
import os

import pytest
import torch
import torchvision

import openamct as amct

from conftest import ROOT

EXAMPLES = os.path.join(ROOT, 'examples')


@pytest.fixture(scope='module')
def resnet18():
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None).eval(), torch.randn(1, 3, 224, 224)


def run(cfg, resnet18, tmp_path):
    model, x = resnet18
    out = tmp_path / 'q.json'
    amct.create_quant_config(str(out), model, x,
                             config_defination=os.path.join(EXAMPLES, cfg))
    return json.loads(out.read_text())


def test_doc_style_example_with_common_channel_wise_true_d5(resnet18, tmp_path):
    cfg = run('resnet18_doc_style.cfg', resnet18, tmp_path)
    assert cfg['batch_num'] == 2 and cfg['skip_fusion_layers'] == ['layer4.1.conv1']
    assert cfg['layer4.1.conv2']['quant_enable'] is False
    conv = cfg['layer1.0.conv1']
    assert conv['weight_quant_params'] == {'num_bits': 6, 'channel_wise': True,
                                           'wts_algo': 'arq_quantize'}
    assert conv['activation_quant_params']['search_range'] == [0.8, 1.2]
    assert conv['activation_quant_params']['asymmetric'] is False
    fc = cfg['fc']
    assert fc['activation_quant_params'] == {'num_bits': 8, 'act_algo': 'hfmg',
                                             'asymmetric': True, 'num_of_bins': 8192}
    # common_config's channel_wise true does not reach the Linear (D5)
    assert fc['weight_quant_params']['channel_wise'] is False


def test_int16_hfmg_dmq_example(resnet18, tmp_path):
    cfg = run('resnet18_int16_dmq.cfg', resnet18, tmp_path)
    assert cfg['batch_num'] == 4
    for name in ('conv1', 'layer2.0.downsample.0', 'fc'):
        layer = cfg[name]
        assert layer['dmq_balancer_param'] == 0.5
        assert layer['activation_quant_params']['num_bits'] == 16
        assert layer['activation_quant_params']['act_algo'] == 'hfmg'
