//! A predicted structure as text: the dot-bracket record RNAfold prints, bpseq or CT (both
//! 1-based, as every tool that reads them expects).

/// `>name description`, the sequence, and the dot-bracket line.
pub fn dot_bracket(header: &str, sequence: &str, structure: &str) -> String {
    format!(">{header}\n{sequence}\n{structure}\n")
}

/// The partner of each position (0-based), if paired.
fn partners(len: usize, pairs: &[(usize, usize)]) -> Vec<Option<usize>> {
    let mut partner = vec![None; len];
    for &(i, j) in pairs {
        if i < len && j < len {
            partner[i] = Some(j);
            partner[j] = Some(i);
        }
    }
    partner
}

/// bpseq: a `# header` comment, then `position base partner` a line (partner 0: unpaired).
pub fn bpseq(header: &str, sequence: &str, pairs: &[(usize, usize)]) -> String {
    let mut out = format!("# {header}\n");
    for (i, (base, partner)) in sequence
        .chars()
        .zip(partners(sequence.chars().count(), pairs))
        .enumerate()
    {
        out.push_str(&format!(
            "{} {base} {}\n",
            i + 1,
            partner.map_or(0, |j| j + 1)
        ));
    }
    out
}

/// CT: `length header`, then `position base previous next partner position` a line.
pub fn ct(header: &str, sequence: &str, pairs: &[(usize, usize)]) -> String {
    let n = sequence.chars().count();
    let mut out = format!("{n} {header}\n");
    for (i, (base, partner)) in sequence.chars().zip(partners(n, pairs)).enumerate() {
        let next = if i + 1 < n { i + 2 } else { 0 };
        out.push_str(&format!(
            "{} {base} {i} {next} {} {}\n",
            i + 1,
            partner.map_or(0, |j| j + 1),
            i + 1
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_formats_number_from_one() {
        let pairs = [(0, 4)];
        assert_eq!(
            bpseq("x", "GAAAC", &pairs),
            "# x\n1 G 5\n2 A 0\n3 A 0\n4 A 0\n5 C 1\n"
        );
        assert_eq!(
            ct("x", "GAAAC", &pairs),
            "5 x\n1 G 0 2 5 1\n2 A 1 3 0 2\n3 A 2 4 0 3\n4 A 3 5 0 4\n5 C 4 0 1 5\n"
        );
        assert_eq!(dot_bracket("x d", "GAAAC", "(...)"), ">x d\nGAAAC\n(...)\n");
    }
}
