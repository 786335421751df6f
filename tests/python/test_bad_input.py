"""Bad input: every failure is a Python exception of the exact type, with a
message that names the culprit; nothing aborts; an existing config_file is
byte-identical afterwards and no temporary file is left behind.

Some failures need the operating system's help: a directory the caller cannot
write (a child process that runs as 'nobody'), a read-only or a full file
system (a tmpfs that a child process mounts in its own mount namespace). Those
tests skip, saying why, where the machine does not allow it.
"""
import errno
import json
import math
import os
import pathlib
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap

import pytest
import torch
from torch import nn

import openamct as amct
from models import ConvLinear, images

OLD_CONFIG = b'{"previous":"config, kept byte for byte"}'
PYTHONPATH = os.path.dirname(os.path.dirname(os.path.abspath(amct.__file__)))
# The child processes import the package and the shared test models.
CHILD_PYTHONPATH = os.pathsep.join([PYTHONPATH, os.path.dirname(os.path.abspath(__file__))])
NOBODY = 65534


class Counting(ConvLinear):
    """ConvLinear that counts its forward passes."""
    calls = 0

    def forward(self, x):
        Counting.calls += 1
        return super().forward(x)


x = images


@pytest.fixture
def existing(workdir):
    """A folder holding a config from an earlier call."""
    (workdir / 'q.json').write_bytes(OLD_CONFIG)
    return workdir


def assert_untouched(folder, extra=()):
    folder = pathlib.Path(folder)
    assert (folder / 'q.json').read_bytes() == OLD_CONFIG
    assert sorted(os.listdir(folder)) == sorted(['q.json', *extra])  # no temporary file


# ---- child processes ---------------------------------------------------------------

# Runs one create_quant_config call and prints what happened as JSON: the
# exception (type, errno, message), the bytes of q.json and the folder's names.
CHILD = textwrap.dedent('''
    import json, os, sys, torch
    from torch import nn
    import openamct as amct
    setup, folder = sys.argv[1], sys.argv[2]
    out = {}
    def sh(*cmd):
        import subprocess
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            print(json.dumps({'skip': ' '.join(cmd) + ': ' + (r.stderr or r.stdout).strip()}))
            sys.exit(0)
    if setup in ('ro_fs', 'full_fs'):
        sh('mount', '-t', 'tmpfs', '-o', 'size=64k,mode=0755', 'tmpfs', folder)
        with open(os.path.join(folder, 'q.json'), 'wb') as f:
            f.write(OLD)
        if setup == 'ro_fs':
            sh('mount', '-o', 'remount,ro', folder)
        else:
            try:
                with open(os.path.join(folder, 'filler'), 'wb') as f:
                    while True:
                        f.write(b'x' * 4096)
                        f.flush()
            except OSError as e:
                assert e.errno == 28, e
    if setup == 'nobody':
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    from models import ConvLinear
    try:
        amct.create_quant_config(os.path.join(folder, 'q.json'), ConvLinear().eval(),
                                 torch.randn(1, 3, 8, 8))
    except BaseException as e:
        out.update(type=type(e).__name__, errno=getattr(e, 'errno', None), message=str(e))
    out['q.json'] = open(os.path.join(folder, 'q.json'), 'rb').read().decode('latin-1')
    out['names'] = sorted(os.listdir(folder))
    print(json.dumps(out))
''').replace('OLD', repr(OLD_CONFIG)).replace('NOBODY', str(NOBODY))


def run_child(setup, folder, prefix=()):
    env = dict(os.environ, PYTHONPATH=CHILD_PYTHONPATH, OPENAMCT_LOG_LEVEL='ERROR')
    r = subprocess.run([*prefix, sys.executable, '-c', CHILD, setup, str(folder)],
                       capture_output=True, text=True, env=env, timeout=300)
    lines = r.stdout.strip().splitlines()
    if r.returncode != 0 or not lines:
        if prefix and 'unshare' in r.stderr:
            pytest.skip('cannot make a mount namespace here: ' + r.stderr.strip())
        pytest.fail('the child process failed (rc %d):\n%s' % (r.returncode, r.stderr))
    out = json.loads(lines[-1])
    if 'skip' in out:
        pytest.skip(out['skip'])
    return out


def in_private_mount_namespace():
    if shutil.which('unshare') is None or shutil.which('mount') is None:
        pytest.skip('unshare(1) or mount(8) is missing')
    return ('unshare', '--mount', '--propagation', 'private')


def world_traversable_folder():
    """A fresh folder under the system temp folder that 'nobody' can enter."""
    folder = pathlib.Path(tempfile.mkdtemp(prefix='openamct_bad_input_'))
    folder.chmod(0o755)
    return folder


# ---- file system ---------------------------------------------------------------------

def test_unwritable_directory_is_a_permission_error(tmp_path):
    if os.geteuid() != 0:
        (tmp_path / 'q.json').write_bytes(OLD_CONFIG)
        tmp_path.chmod(0o555)
        try:
            with pytest.raises(PermissionError) as info:
                amct.create_quant_config(str(tmp_path / 'q.json'), ConvLinear().eval(), x())
        finally:
            tmp_path.chmod(0o755)
        assert info.value.errno == errno.EACCES
        assert str(tmp_path / 'q.json') in str(info.value)
        assert_untouched(tmp_path)
        return
    # root writes anywhere: the call runs in a child process as 'nobody'.
    base = world_traversable_folder()
    try:
        folder = base / 'ro'
        folder.mkdir()
        (folder / 'q.json').write_bytes(OLD_CONFIG)
        (folder / 'q.json').chmod(0o644)
        folder.chmod(0o555)
        probe = subprocess.run([sys.executable, '-c', 'import openamct'], capture_output=True,
                               env=dict(os.environ, PYTHONPATH=PYTHONPATH), user=NOBODY,
                               group=NOBODY, extra_groups=[])
        if probe.returncode != 0:
            pytest.skip("'nobody' cannot import openamct from the build folder: " +
                        probe.stderr.decode(errors='replace').strip().splitlines()[-1])
        out = run_child('nobody', folder)
        assert out['type'] == 'PermissionError' and out['errno'] == errno.EACCES
        assert out['message'].startswith("[Errno 13] Permission denied: '%s'" % (folder / 'q.json'))
        assert out['message'].endswith("(cannot create a file in its directory; check the directory's "
                                      'permissions)')
        assert out['q.json'].encode('latin-1') == OLD_CONFIG and out['names'] == ['q.json']
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_read_only_file_system_is_an_os_error(tmp_path):
    prefix = in_private_mount_namespace()
    out = run_child('ro_fs', tmp_path, prefix)
    assert out['type'] == 'OSError' and out['errno'] == errno.EROFS
    assert out['message'].startswith("[Errno 30] Read-only file system: '%s'"
                                     % (tmp_path / 'q.json'))
    assert out['q.json'].encode('latin-1') == OLD_CONFIG and out['names'] == ['q.json']


def test_full_file_system_keeps_the_existing_config(tmp_path):
    # A 64 KiB tmpfs, filled up, in the child's own mount namespace. (The
    # C++ suite also covers this with an injected write failure.)
    prefix = in_private_mount_namespace()
    out = run_child('full_fs', tmp_path, prefix)
    assert out['type'] == 'OSError' and out['errno'] == errno.ENOSPC
    assert out['message'].startswith("[Errno 28] No space left on device: '%s'"
                                     % (tmp_path / 'q.json'))
    assert out['q.json'].encode('latin-1') == OLD_CONFIG
    assert out['names'] == ['filler', 'q.json']  # no temporary file


def test_config_file_that_is_a_symlink_to_a_directory_is_a_value_error(existing):
    os.mkdir('d')
    os.symlink('d', 'link')
    with pytest.raises(ValueError) as info:
        amct.create_quant_config('link', ConvLinear().eval(), x())
    assert str(info.value).startswith("config_file 'link' is invalid: it is an existing directory.")
    assert os.listdir('d') == []
    assert_untouched(existing, extra=['d', 'link'])


def make_special_file(kind, path):
    if kind == 'FIFO':
        os.mkfifo(path)
    elif kind == 'socket':
        import socket
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(path)
        sock.close()
    else:  # a private twin of /dev/null, never the real one
        try:
            os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
        except PermissionError:
            pytest.skip('mknod needs privileges')


@pytest.mark.parametrize('kind', ['FIFO', 'socket', 'character device'])
def test_config_file_that_is_not_a_regular_file_is_a_value_error(workdir, kind):
    # A rename would replace the node with a plain file; opening a FIFO would
    # wait for a writer forever.
    make_special_file(kind, 'special')
    before = os.stat('special')
    with pytest.raises(ValueError) as info:
        amct.create_quant_config('special', ConvLinear().eval(), x())
    assert str(info.value).startswith("config_file 'special' is invalid: it is a %s, not a "
                                      "regular file." % kind)
    after = os.stat('special')
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    assert os.listdir('.') == ['special']


def test_path_that_is_not_utf8_names_exactly_that_file(workdir):
    name = os.fsdecode(b'q\xff\xfe.json')  # a str holding surrogate escapes
    amct.create_quant_config(name, ConvLinear().eval(), x())
    assert os.listdir(b'.') == [b'q\xff\xfe.json']
    assert json.loads(pathlib.Path(name).read_text())['version'] == 1


def test_error_about_a_path_that_is_not_utf8_is_readable(workdir):
    with pytest.raises(ValueError) as info:
        amct.create_quant_config(os.fsdecode(b'\xff' * 300), ConvLinear().eval(), x())
    assert str(info.value).startswith("config_file's name{" + '\\xff' * 300 + '} is invalid')
    assert os.listdir('.') == []


@pytest.mark.parametrize('path', [b'q.json', pathlib.PurePath], ids=['bytes', 'bytes_pathlike'])
def test_bytes_path_is_a_type_error_that_says_what_to_pass(workdir, path):
    if path is pathlib.PurePath:
        class BytesPath:
            def __fspath__(self):
                return b'q.json'
        path = BytesPath()
    with pytest.raises(TypeError) as info:
        amct.create_quant_config(path, ConvLinear().eval(), x())
    assert str(info.value).startswith("Func create_quant_config argument config_file must be "
                                      "<class 'str'>")
    assert 'os.fsdecode(path)' in str(info.value)
    assert os.listdir('.') == []


@pytest.mark.parametrize('argument', ['config_file', 'config_defination'])
def test_path_with_a_nul_character_is_a_value_error(existing, argument):
    path, kwargs = 'q.json', {}
    if argument == 'config_file':
        path = 'q\0.json'
    else:
        kwargs['config_defination'] = 'quant\0.cfg'
    with pytest.raises(ValueError) as info:
        amct.create_quant_config(path, ConvLinear().eval(), x(), **kwargs)
    assert str(info.value).startswith("%s '%s\\x00" % (argument, 'q' if path != 'q.json' else
                                                          'quant'))
    assert 'contains a NUL character' in str(info.value)
    assert_untouched(existing)


def test_file_name_of_255_bytes_is_a_value_error(existing):
    with pytest.raises(ValueError) as info:
        amct.create_quant_config('a' * 255, ConvLinear().eval(), x())
    assert str(info.value) == ("config_file's name{%s} is invalid, '/' is reserved characters, "
                               "length should be less than 255." % ('a' * 255))
    assert_untouched(existing)


def test_file_name_of_254_bytes_is_written(workdir):
    amct.create_quant_config('a' * 254, ConvLinear().eval(), x())
    assert os.listdir('.') == ['a' * 254]


def test_file_name_of_128_two_byte_characters_is_a_value_error(existing):
    # 128 characters but 256 bytes: Linux limits names in bytes. (The
    # reference counts characters and fails later, with OSError ENAMETOOLONG.)
    with pytest.raises(ValueError, match="^config_file's name{é+} is invalid"):
        amct.create_quant_config('é' * 128, ConvLinear().eval(), x())
    assert_untouched(existing)


def test_folder_name_longer_than_255_bytes_is_an_os_error(existing):
    path = 'd' * 256 + '/q.json'
    with pytest.raises(OSError) as info:
        amct.create_quant_config(path, ConvLinear().eval(), x())
    assert type(info.value) is OSError and info.value.errno == errno.ENAMETOOLONG
    assert str(info.value).startswith("[Errno 36] File name too long: '%s'" % ('d' * 256))
    assert_untouched(existing)


# ---- quant.cfg ---------------------------------------------------------------------------

IFMR = 'common_config { ifmr_quantize { %s } }'
ADA = 'common_config { ada_quantize { %s } }'


@pytest.mark.parametrize('cfg, error, message', [
    (IFMR % 'max_percentile: nan', ValueError,
     'The max_percentile must be greater than 0.5 and less than or equal to 1.0 in layer conv'),
    (IFMR % 'min_percentile: inf', ValueError,
     'The min_percentile must be greater than 0.5 and less than or equal to 1.0 in layer conv'),
    (IFMR % 'search_range_start: nan', ValueError,
     'search_range[0] must be greater than zero in layer conv'),
    (IFMR % 'search_range_start: -1', ValueError,
     'search_range[0] must be greater than zero in layer conv'),
    (IFMR % 'search_step: nan', ValueError,
     'The search_step must be greater than zero in layer conv'),
    (IFMR % 'search_step: -inf', ValueError,
     'The search_step must be greater than zero in layer conv'),
    (IFMR % 'search_step: 1e-46', ValueError,  # below float32's smallest: 0
     'The search_step must be greater than zero in layer conv'),
    (IFMR % 'search_step: 1e39', ValueError,  # beyond float32's largest: inf
     'The search_step must be less than or equal to (search_range[1] - search_range[0]) '
     'in layer conv'),
    (ADA % 'reg_param: nan', ValueError, 'reg_param must be less than 1 and larger than 0 in '
     'layer conv'),
    (ADA % 'warm_start: -inf', ValueError, 'warm_start must be less than 1 and larger than 0 '
     'in layer conv'),
    (ADA % 'beta_range_end: -2', ValueError, 'beta_range beta_range_end must large than 0 in '
     'layer conv'),
    ('common_config { dmq_balancer { migration_strength: 1e39 } }', ValueError,
     'The dmq_balancer_param must be in range [0.2, 0.8] in layer conv'),
    ('common_config { hfmg_quantize { num_of_bins: 4294967295 } }', ValueError,
     'num_of_bins 4294967295 must be in [1024, 2048, 4096, 8192] in layer conv'),
    ('common_config { arq_quantize { quant_bits: 4294967295 } }', ValueError,
     'weight num_bits is not in [4, 6, 7, 8] in layer conv'),
    ('batch_num: 0', ValueError, 'The batch_num must be greater than zero.'),
    ('batch_num: -1', amct.ConfigParseError, "1:12 : 'batch_num: -1': Value out of range: -1"),
    ('batch_num: 4294967296', amct.ConfigParseError,
     "1:12 : 'batch_num: 4294967296': Value out of range: 4294967296"),
    (IFMR % 'search_step: 1e400', ValueError,  # read as inf, as Python's text_format does
     'The search_step must be less than or equal to (search_range[1] - search_range[0]) '
     'in layer conv'),
    (IFMR % 'search_step: 0x10', amct.ConfigParseError, None),  # not a float literal
], ids=['max_nan', 'min_inf', 'start_nan', 'start_negative', 'step_nan', 'step_minus_inf',
        'step_underflow', 'step_overflow', 'reg_nan', 'warm_minus_inf', 'beta_negative',
        'dmq_huge', 'bins_huge', 'bits_huge', 'batch_zero', 'batch_negative', 'batch_huge',
        'step_1e400', 'step_hex'])
def test_cfg_with_nan_inf_negative_or_huge_values(existing, cfg, error, message):
    pathlib.Path('quant.cfg').write_text(cfg)
    with pytest.raises(error) as info:
        amct.create_quant_config('q.json', ConvLinear().eval(), x(), config_defination='quant.cfg')
    if message is None:
        assert type(info.value) is error and str(info.value).startswith('1:')
    else:
        assert type(info.value) is error and str(info.value) == message
    assert_untouched(existing, extra=['quant.cfg'])


def test_cfg_with_an_infinite_search_range_end_is_written_as_the_reference_writes_it(workdir):
    # The reference accepts it (inf > start, and any step fits) and json.dump
    # writes Infinity, which Python's json reads back; OpenAMCT does the same.
    pathlib.Path('quant.cfg').write_text(IFMR % 'search_range_end: inf')
    amct.create_quant_config('q.json', ConvLinear().eval(), x(), config_defination='quant.cfg')
    config = json.loads(pathlib.Path('q.json').read_text())
    assert config['conv']['activation_quant_params']['search_range'] == [0.7, math.inf]


# How fast this fails is measured in bench/overrides.py.
def test_100000_overrides_of_unknown_layers_fail_naming_the_first(existing):
    pathlib.Path('quant.cfg').write_text(''.join(
        'override_layer_configs { layer_name: "l%d" calibration_config { } }\n' % i
        for i in range(100000)))
    with pytest.raises(ValueError) as info:
        amct.create_quant_config('q.json', ConvLinear().eval(), x(), config_defination='quant.cfg')
    assert str(info.value) == 'Layer l0 does not exist in the graph.'
    assert_untouched(existing, extra=['quant.cfg'])


def test_100000_overrides_of_one_layer_are_repeated_items(existing):
    pathlib.Path('quant.cfg').write_text(
        'override_layer_configs { layer_name: "conv" calibration_config { } }\n' * 100000)
    with pytest.raises(ValueError) as info:
        amct.create_quant_config('q.json', ConvLinear().eval(), x(), config_defination='quant.cfg')
    assert str(info.value) == ("Please delete repeated items in override_layer_configs, "
                               "repeated items are ['conv'] ")
    assert_untouched(existing, extra=['quant.cfg'])


@pytest.mark.parametrize('cfg, position', [
    ('common_config {' * 100000, '1:16 : '),
    ('{' * 1000000, '1:1 : '),
    ('[' * 100000, '1:2 : '),
    ('common_config { ifmr_quantize { ' * 1, '1:31 : Expected "}".'),
    ('common_config <\n' * 100000, '2:1 : '),
], ids=['100000_nested_blocks', 'million_braces', 'brackets', 'unclosed', 'angle_blocks'])
def test_deeply_nested_braces_are_a_config_parse_error(existing, cfg, position):
    pathlib.Path('quant.cfg').write_text(cfg)
    with pytest.raises(amct.ConfigParseError) as info:
        amct.create_quant_config('q.json', ConvLinear().eval(), x(), config_defination='quant.cfg')
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith(position)
    assert_untouched(existing, extra=['quant.cfg'])


# ---- models and inputs ------------------------------------------------------------------

def test_model_without_submodules_has_no_layer_to_quantize(existing):
    class Bare(nn.Module):
        def forward(self, t):
            return t * 2

    for model in (Bare(), nn.Sequential()):
        with pytest.raises(ValueError) as info:
            amct.create_quant_config('q.json', model, x())
        assert str(info.value) == 'No layer support quantization in the graph.'
    assert_untouched(existing)


def test_module_without_forward_is_a_runtime_error_that_keeps_torchs_words(existing):
    with pytest.raises(RuntimeError) as info:
        amct.create_quant_config('q.json', nn.Module(), x())
    assert 'missing the required "forward" function' in str(info.value)
    assert_untouched(existing)


@pytest.mark.parametrize('capture', ['auto', 'real'])
def test_forward_that_raises_keeps_its_message(existing, capture):
    class Raises(ConvLinear):
        def forward(self, t):
            raise ValueError('weights not loaded: call load_state_dict first')

    with pytest.raises(RuntimeError) as info:
        amct.create_quant_config('q.json', Raises(), x(), capture=capture)
    assert type(info.value) is RuntimeError
    assert ('ValueError: weights not loaded: call load_state_dict first' in str(info.value))
    assert isinstance(info.value.__cause__, ValueError)
    assert_untouched(existing)


@pytest.mark.parametrize('error', [KeyboardInterrupt, SystemExit])
def test_interrupt_in_forward_reaches_python_unchanged(existing, error):
    class Interrupted(ConvLinear):
        def forward(self, t):
            raise error()

    with pytest.raises(error):
        amct.create_quant_config('q.json', Interrupted(), x(), capture='real')
    assert_untouched(existing)


@pytest.mark.parametrize('bad, shown', [({'x': torch.randn(1, 3, 8, 8)}, 'dict'),
                                        (None, 'NoneType')], ids=['dict', 'None'])
def test_input_data_that_is_a_dict_or_none_is_a_runtime_error(existing, bad, shown):
    Counting.calls = 0
    with pytest.raises(RuntimeError) as info:
        amct.create_quant_config('q.json', Counting(), bad)
    assert type(info.value) is RuntimeError
    assert str(info.value).startswith('input data type must be tuple or torch.Tensor! Got '
                                      'input_data of type %s;' % shown)
    assert Counting.calls == 0
    assert_untouched(existing)


@pytest.mark.parametrize('inputs, model_device, input_device', [
    (lambda: torch.randn(1, 3, 8, 8, device='meta'), 'cpu', 'meta'),
    (lambda: (torch.randn(1, 3, 8, 8, device='meta'),), 'cpu', 'meta'),
    (lambda: ([torch.randn(1, 3, 8, 8, device='meta')],), 'cpu', 'meta'),
], ids=['meta_input', 'meta_input_in_tuple', 'meta_input_in_a_list_in_a_tuple'])
def test_input_data_on_another_device_fails_before_anything_runs(existing, inputs, model_device,
                                                                 input_device):
    Counting.calls = 0
    model = Counting().to(model_device)
    with pytest.raises(RuntimeError) as info:
        amct.create_quant_config('q.json', model, inputs())
    assert str(info.value).startswith('The model cannot export to onnx, exception is: '
                                      'input_data is on %s, but the model is on %s.'
                                      % (input_device, model_device))
    assert Counting.calls == 0
    assert_untouched(existing)
    with pytest.raises(RuntimeError, match='^The model cannot export to onnx, exception is: '
                                           'input_data is on '):
        amct.inspect_layers(model, inputs())


def test_model_wholly_on_meta_takes_inputs_from_any_device(workdir):
    # Only captured structurally (see test_capture_paths.py): nothing to mismatch.
    amct.create_quant_config('q.json', ConvLinear().to('meta'), x())
    assert json.loads(pathlib.Path('q.json').read_text())['conv']['quant_enable'] is True


def test_input_data_on_another_device_for_a_torchscript_model(existing):
    scripted = torch.jit.trace(ConvLinear().eval(), x())
    with pytest.raises(RuntimeError, match="^The model cannot export to onnx, exception is: "
                                           "input_data is on meta, but the model is on cpu."):
        amct.create_quant_config('q.json', scripted, x().to('meta'))
    assert_untouched(existing)


def test_skip_layer_name_that_is_not_utf8_is_an_unknown_layer(existing):
    with pytest.raises(ValueError) as info:
        amct.create_quant_config('q.json', ConvLinear().eval(), x(), skip_layers=['\udcff'])
    assert str(info.value).startswith('Layer \\xed\\xb3\\xbf does not exist in the graph.')
    assert_untouched(existing)


# ---- TorchScript files (CLI) --------------------------------------------------------------

def cli():
    path = os.environ.get('OPENAMCT_CLI') or os.path.join(
        os.environ.get('OPENAMCT_BUILD_DIR', os.path.join(PYTHONPATH, '..')), 'bin', 'openamct')
    assert os.path.exists(path), 'the openamct CLI is not at %s: build it first' % path
    return path


def truncated_torchscript(path):
    torch.jit.save(torch.jit.script(nn.Linear(2, 2)), path)
    data = pathlib.Path(path).read_bytes()
    pathlib.Path(path).write_bytes(data[:len(data) // 2])


@pytest.mark.parametrize('make', [
    lambda p: pathlib.Path(p).write_bytes(b''),
    lambda p: pathlib.Path(p).write_bytes(b'not a model'),
    lambda p: pathlib.Path(p).write_bytes(b'PK\x03\x04' + b'\0' * 64),
    lambda p: torch.save({'weight': torch.zeros(2)}, p),
    lambda p: torch.save(nn.Linear(2, 2), p),
    truncated_torchscript,
], ids=['empty', 'text', 'broken_zip', 'state_dict', 'pickled_eager_module', 'truncated'])
def test_cli_on_a_file_that_is_not_torchscript(existing, make):
    make('model.pt')
    r = subprocess.run([cli(), 'create-quant-config', '--model', 'model.pt', '--input-shape',
                        '1,3,8,8', '-o', 'q.json'], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r  # an error exit, not a signal
    assert r.stderr.startswith("error: cannot load the TorchScript model 'model.pt': "), r.stderr
    assert_untouched(existing, extra=['model.pt'])


def test_cli_on_a_model_file_that_does_not_exist(existing):
    r = subprocess.run([cli(), 'create-quant-config', '--model', 'missing.pt', '--input-shape',
                        '1,3,8,8', '-o', 'q.json'], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and 'missing.pt' in r.stderr, r
    assert_untouched(existing)


# ---- nothing lost ---------------------------------------------------------------------------

WRITER = textwrap.dedent('''
    import sys, torch
    from torch import nn
    import openamct as amct
    path, batch_num, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(144, 2)).eval()
    for _ in range(rounds):
        amct.create_quant_config(path, model, torch.randn(1, 3, 8, 8), batch_num=batch_num)
''')


def test_two_processes_writing_one_config_leave_one_complete_config(workdir):
    env = dict(os.environ, PYTHONPATH=PYTHONPATH, OPENAMCT_LOG_LEVEL='ERROR')
    expected = {}
    for batch_num in (1, 2):
        subprocess.run([sys.executable, '-c', WRITER, 'solo%d.json' % batch_num,
                        str(batch_num), '1'], check=True, env=env, timeout=300)
        expected[batch_num] = pathlib.Path('solo%d.json' % batch_num).read_bytes()
    assert expected[1] != expected[2]

    writers = [subprocess.Popen([sys.executable, '-c', WRITER, 'q.json', str(b), '200'], env=env)
               for b in (1, 2)]
    seen = set()
    while any(w.poll() is None for w in writers):
        try:
            data = pathlib.Path('q.json').read_bytes()
        except FileNotFoundError:
            continue
        assert data in expected.values(), data[:200]  # never a torn or mixed file
        seen.add(data)
    assert [w.returncode for w in writers] == [0, 0]
    assert pathlib.Path('q.json').read_bytes() in expected.values()
    json.loads(pathlib.Path('q.json').read_text())
    assert sorted(os.listdir('.')) == ['q.json', 'solo1.json', 'solo2.json']


# ---- check_config: hand-edited configs (calibration spec §3) -----------------------------

GOOD_CONFIG = {'version': 1, 'batch_num': 1, 'activation_offset': True,
               'conv': {'quant_enable': True, 'activation_quant_params': {}},
               'fc': {'quant_enable': False, 'activation_quant_params': {}}}


@pytest.mark.parametrize('edit, error, message', [
    (lambda c: c.__setitem__('layer4.1.conv2', c['conv']), ValueError,
     'layer4.1.conv2 is an invalid layer name or parameter.'),
    (lambda c: c['conv'].pop('activation_quant_params'), ValueError,
     'activation_quant_params is missing in layer conv'),
    (lambda c: c['conv']['activation_quant_params'].__setitem__('num_bits', '8'), TypeError,
     "Type of num_bits should be <class 'int'>, but is <class 'str'> in layer conv"),
    (lambda c: c['conv']['activation_quant_params'].__setitem__('search_step', -0.01), ValueError,
     'The search_step must be greater than zero in layer conv'),
    (lambda c: c['conv'].__setitem__('weight_quant_params', {'wts_algo': 'arq', 'num_bits': 8}),
     ValueError, 'wts_algo must be arq_quantize or ada_quantize in layer conv'),
])
def test_check_config_on_an_edited_config(existing, edit, error, message):
    config = json.loads(json.dumps(GOOD_CONFIG))
    edit(config)
    (existing / 'c.json').write_text(json.dumps(config))
    with pytest.raises(error) as info:
        amct.check_config('c.json', ConvLinear(), torch.randn(1, 3, 8, 8))
    assert type(info.value) is error
    assert str(info.value).startswith(message), str(info.value)
    assert_untouched(existing, ['c.json'])


def test_check_config_accepts_the_unedited_config(existing):
    (existing / 'c.json').write_text(json.dumps(GOOD_CONFIG))
    summary = amct.check_config(pathlib.Path('c.json'), ConvLinear(), torch.randn(1, 3, 8, 8))
    assert [l['name'] for l in summary['layers']] == ['conv']
    assert summary['layers'][0]['asymmetric'] is True
    assert_untouched(existing, ['c.json'])


def test_check_config_with_repeated_keys_names_them(existing):
    (existing / 'c.json').write_text('{"conv": {"quant_enable": true, "quant_enable": false,'
                                     ' "activation_quant_params": {}}}')
    with pytest.raises(ValueError) as info:
        amct.check_config('c.json', ConvLinear(), torch.randn(1, 3, 8, 8))
    assert str(info.value) == ("Please delete repeated items in %s, repeated items are "
                               "['quant_enable'] " % os.path.realpath('c.json'))


def test_check_config_of_a_quantized_model_is_rejected_before_reading(existing):
    class IFMR(nn.Module):  # the reference's own calibration module, by class name
        pass

    model = ConvLinear()
    model.add_module('ifmr', IFMR())
    (existing / 'c.json').write_text(json.dumps(GOOD_CONFIG))
    with pytest.raises(RuntimeError, match='The model cannot be quantized for following quant '
                                           'layers are in the model'):
        amct.check_config('c.json', model, torch.randn(1, 3, 8, 8))
