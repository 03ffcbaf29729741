% Oracle values from GNU Octave for the skgrad.iqa unit tests.
%
% Run through tests/iqa/make_octave_fixtures.py (which writes the inputs and
% converts the outputs to tests/iqa/data/octave_fixtures.npz):
%
%   octave --no-gui --quiet --eval \
%     "make_octave_fixtures('/tmp/in.mat', '/tmp/out.mat')"
%
% Needs GNU Octave with the image package (Debian: octave octave-image).
function make_octave_fixtures(in_path, out_path)
  pkg load image
  in = load(in_path);
  out = struct();

  % imresize(img, scale) with the default method (bicubic, antialiasing on),
  % for uint8 inputs and for the same values as double.
  for k = 1:in.n_resize
    name = sprintf('resize_%d', k - 1);
    img = in.([name '_image']);
    scale = in.([name '_scale']);
    out.([name '_uint8']) = imresize(img, scale);
    out.([name '_double']) = imresize(double(img), scale);
  end

  % rgb2ycbcr on uint8 colours, given as an N x 1 x 3 image.
  out.ycbcr = rgb2ycbcr(in.colours);

  % bias-corrected (flag 0), non-excess kurtosis along rows.
  out.kurtosis = kurtosis(in.kurtosis_input, 0, 2);

  save('-v7', out_path, '-struct', 'out');
end
