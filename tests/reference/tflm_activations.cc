// The reference for `tests/tflm_activations.rs`: TensorFlow Lite Micro's int8 TANH and
// LOGISTIC (their Prepare step and `reference_integer_ops::Tanh` / `Logistic`) written out
// over gemmlowp's own `fixedpoint.h` (Debian package libgemmlowp-dev). Prints every int8
// result for a grid of input quantizations, then gemmlowp's tanh and logistic of raw Q4.27
// values. `.ci/tflm-reference` compiles it and compares its output with the checked-in
// `tests/data/tflm_activations.txt`, which the Rust test reads.
//
//   g++ -O1 -I/usr/include/gemmlowp tests/reference/tflm_activations.cc -o /tmp/ref && /tmp/ref

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>

#include <fixedpoint/fixedpoint.h>

namespace {

constexpr int kInputIntegerBits = 4;

// TFLite's MultiplyByQuantizedMultiplier (double rounding).
int32_t MultiplyByQuantizedMultiplier(int32_t x, int32_t multiplier, int shift) {
  const int left_shift = shift > 0 ? shift : 0;
  const int right_shift = shift > 0 ? 0 : -shift;
  return gemmlowp::RoundingDivideByPOT(
      gemmlowp::SaturatingRoundingDoublingHighMul(x * (1 << left_shift), multiplier),
      right_shift);
}

// TFLite's CalculateInputRadius.
int CalculateInputRadius(int input_integer_bits, int input_left_shift, int total_signed_bits) {
  const double max_input_rescaled = 1.0 * ((1 << input_integer_bits) - 1) *
                                    (1LL << (total_signed_bits - input_integer_bits)) /
                                    (1LL << input_left_shift);
  return static_cast<int>(std::floor(max_input_rescaled));
}

struct Params {
  int32_t zero_point, radius, multiplier;
  int shift;
};

// Prepare of TFLM's tanh and logistic for int8 inputs (tensor scales are floats).
Params Prepare(float scale, int32_t zero_point) {
  Params p;
  p.zero_point = zero_point;
  const double real =
      static_cast<double>(scale) * static_cast<double>(1 << (31 - kInputIntegerBits));
  const double q = std::frexp(real, &p.shift);
  p.multiplier = static_cast<int32_t>(std::round(q * (1ll << 31)));
  p.radius = CalculateInputRadius(kInputIntegerBits, p.shift, 31);
  return p;
}

using F4 = gemmlowp::FixedPoint<int32_t, kInputIntegerBits>;

int8_t Tanh(const Params& p, int8_t q) {
  const int32_t input = static_cast<int32_t>(q) - p.zero_point;
  if (input <= -p.radius) return std::numeric_limits<int8_t>::min();
  if (input >= p.radius) return std::numeric_limits<int8_t>::max();
  const int32_t in_q4 = MultiplyByQuantizedMultiplier(input, p.multiplier, p.shift);
  const int32_t out_q0 = gemmlowp::tanh(F4::FromRaw(in_q4)).raw();
  int32_t out = gemmlowp::RoundingDivideByPOT(out_q0, 31 - 7);
  out = std::min(std::max(out, -128), 127);
  return static_cast<int8_t>(out);
}

int8_t Logistic(const Params& p, int8_t q) {
  const int32_t input = static_cast<int32_t>(q) - p.zero_point;
  if (input <= -p.radius) return std::numeric_limits<int8_t>::min();
  if (input >= p.radius) return std::numeric_limits<int8_t>::max();
  const int32_t in_q4 = MultiplyByQuantizedMultiplier(input, p.multiplier, p.shift);
  const int32_t out_q0 = gemmlowp::logistic(F4::FromRaw(in_q4)).raw();
  int32_t out = gemmlowp::RoundingDivideByPOT(out_q0, 31 - 8) - 128;
  out = std::min(std::max(out, -128), 127);
  return static_cast<int8_t>(out);
}

}  // namespace

int main() {
  const float scales[] = {0.001f, 0.0078125f, 0.02f, 0.0390625f, 0.05f, 0.1f,
                          0.2f,   0.5f,       1.0f,  3.0f,       7.5f};
  const int32_t zero_points[] = {-128, -20, 0, 37, 127};
  for (int curve = 0; curve < 2; curve++) {
    for (float scale : scales) {
      for (int32_t zp : zero_points) {
        const Params p = Prepare(scale, zp);
        std::printf("%s %.9g %d %d %d %d", curve == 0 ? "tanh" : "logistic",
                    static_cast<double>(scale), zp,
                    p.multiplier, p.shift, p.radius);
        for (int q = -128; q <= 127; q++) {
          const int8_t out = curve == 0 ? Tanh(p, q) : Logistic(p, q);
          std::printf(" %d", out);
        }
        std::printf("\n");
      }
    }
  }
  // Raw Q4.27 inputs from a fixed LCG, and the edges.
  uint32_t state = 12345;
  for (int n = 0; n < 4000; n++) {
    state = state * 1664525u + 1013904223u;
    int32_t raw = static_cast<int32_t>(state);
    if (n == 0) raw = 0;
    if (n == 1) raw = std::numeric_limits<int32_t>::max();
    if (n == 2) raw = std::numeric_limits<int32_t>::min() + 1;
    if (n == 3) raw = 1;
    if (n == 4) raw = -1;
    std::printf("raw %d %d %d\n", raw, gemmlowp::tanh(F4::FromRaw(raw)).raw(),
                gemmlowp::logistic(F4::FromRaw(raw)).raw());
  }
  return 0;
}
