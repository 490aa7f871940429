//! Property tests of UAI parsing: every 7-digit number with its check letter parses; the check
//! letter is the number modulo 23 in `ABCDEFGHJKLMNPRSTUVWXYZ`; any single-character change of a
//! valid UAI is rejected (23 is prime and does not divide 10, so changing one digit always changes
//! the remainder).

use domain::values::Uai;
use proptest::prelude::*;

const LETTERS: &str = "ABCDEFGHJKLMNPRSTUVWXYZ";

/// The check letter, computed independently of the crate.
fn expected_letter(number: u32) -> char {
    LETTERS.chars().nth((number % 23) as usize).unwrap()
}

fn valid(number: u32) -> String {
    format!("{number:07}{}", expected_letter(number))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn valid_uais_parse_and_keep_their_text(number in 0u32..10_000_000) {
        let text = valid(number);
        let uai = Uai::parse(&text).unwrap();
        prop_assert_eq!(uai.as_str(), text.as_str());
        prop_assert_eq!(Uai::check_letter(number) as char, expected_letter(number));
        let json = serde_json::to_string(&uai).unwrap();
        prop_assert_eq!(serde_json::from_str::<Uai>(&json).unwrap(), uai);
    }

    #[test]
    fn every_other_check_letter_is_rejected(number in 0u32..10_000_000, letter in "[A-Z]") {
        prop_assume!(!letter.starts_with(expected_letter(number)));
        let text = format!("{number:07}{letter}");
        prop_assert!(Uai::parse(&text).is_err());
    }

    #[test]
    fn any_single_character_change_is_rejected(
        number in 0u32..10_000_000,
        position in 0usize..8,
        replacement in proptest::char::range(' ', '~'),
    ) {
        let original = valid(number);
        let mut chars: Vec<char> = original.chars().collect();
        prop_assume!(chars[position] != replacement);
        chars[position] = replacement;
        let changed: String = chars.into_iter().collect();
        prop_assert!(
            Uai::parse(&changed).is_err(),
            "{} parsed although it differs from {} in one character", changed, original
        );
    }

    #[test]
    fn a_changed_digit_changes_the_expected_letter(
        number in 0u32..10_000_000,
        position in 0u32..7,
        delta in 1u32..10,
    ) {
        let weight = 10u32.pow(position);
        let digit = (number / weight) % 10;
        let changed = number - digit * weight + ((digit + delta) % 10) * weight;
        prop_assert_ne!(expected_letter(changed), expected_letter(number));
    }

    #[test]
    fn texts_of_another_length_are_rejected(text in "[0-9A-Z]{0,7}|[0-9A-Z]{9,12}") {
        prop_assert!(Uai::parse(&text).is_err());
    }
}

#[test]
fn corsica_is_written_620_and_720() {
    let ajaccio = valid(6_200_001);
    let bastia = valid(7_200_001);
    assert_eq!(Uai::parse(&ajaccio).unwrap().departement(), "2A");
    assert_eq!(Uai::parse(&bastia).unwrap().departement(), "2B");
    assert!(Uai::parse("2A00001G").is_err());
    assert_eq!(Uai::parse(&valid(9_710_001)).unwrap().departement(), "971");
    assert_eq!(Uai::parse(&valid(690_001)).unwrap().departement(), "69");
}
