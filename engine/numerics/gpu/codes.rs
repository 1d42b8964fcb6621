//! One-byte codes for training sets with few distinct feature values (every
//! image dataset): the codes, four to a word, and the palette they index, as
//! `shaders/batch.wgsl` reads them. Decoding gives back each value's exact bits.

/// The codes of `values` (lowest byte first in each word) and the palette of
/// their distinct values (by bits, in increasing bit order), or `None` when
/// there are more than 256 distinct values.
pub fn encode(values: &[f32]) -> Option<(Vec<u32>, Vec<f32>)> {
    let mut palette: Vec<u32> = Vec::new();
    for &v in values {
        let bits = v.to_bits();
        // Almost every value is one seen already: look before sorting in.
        if let Err(at) = palette.binary_search(&bits) {
            if palette.len() == 256 {
                return None;
            }
            palette.insert(at, bits);
        }
    }
    let mut codes = vec![0u32; values.len().div_ceil(4)];
    for (i, &v) in values.iter().enumerate() {
        let code = palette.binary_search(&v.to_bits()).expect("every value is in the palette") as u32;
        codes[i / 4] |= code << (8 * (i % 4));
    }
    Some((codes, palette.into_iter().map(f32::from_bits).collect()))
}

/// The value at `index` of what [`encode`] gave (the host's view of the shader's read).
pub fn decode(codes: &[u32], palette: &[f32], index: usize) -> f32 {
    palette[((codes[index / 4] >> (8 * (index % 4))) & 0xff) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_give_back_every_bit() {
        let values: Vec<f32> =
            (0..1001).map(|i| if i % 7 == 0 { -0.0 } else { (i % 255) as f32 / 255.0 }).collect();
        let (codes, palette) = encode(&values).unwrap();
        assert_eq!(palette.len(), 256, "255 levels (0.0 among them) and -0.0");
        assert_eq!(codes.len(), 251);
        for (i, v) in values.iter().enumerate() {
            assert_eq!(decode(&codes, &palette, i).to_bits(), v.to_bits(), "{i}");
        }
    }

    #[test]
    fn more_than_256_values_have_no_codes() {
        let values: Vec<f32> = (0..257).map(|i| i as f32).collect();
        assert!(encode(&values).is_none());
        assert!(encode(&values[..256]).is_some());
        assert_eq!(encode(&[]), Some((Vec::new(), Vec::new())));
    }
}
