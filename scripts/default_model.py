"""The main job on the bundled default: ResNet-18 (random weights) -> config."""
import argparse

import torch
import torchvision

import openamct as amct


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('-o', '--output', default='resnet18_quant_config.json')
    args = ap.parse_args()
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    x = torch.randn(1, 3, 224, 224)
    rows = amct.inspect_layers(model, x)
    width = max(len(r['name']) for r in rows)
    print('%-*s  %-16s %-14s %s' % (width, 'layer', 'type', 'verdict', 'reason'))
    for r in rows:
        print('%-*s  %-16s %-14s %s' % (width, r['name'], r['type'], r['verdict'], r['reason']))
    amct.create_quant_config(args.output, model, x)
    print('wrote %s (%d layers)' % (args.output, sum(r['quantize'] for r in rows)))


if __name__ == '__main__':
    main()
