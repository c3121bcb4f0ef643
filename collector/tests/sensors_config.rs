//! Config-file lines for sensors: what parses, and errors that name the problem (the
//! caller adds the line number, so a config error names the line and the problem).

use pimon_collector::sensors::{
    GpioBackend, GpioInputConfig, I2cChip, I2cSensorConfig, Pull, SensorsConfig, parse_gpio_line,
    parse_i2c_line,
};

#[test]
fn i2c_lines_that_parse() {
    let cases = [
        (
            "i2c = bme280 /dev/i2c-1 0x76 garden",
            I2cChip::Bme280,
            "/dev/i2c-1",
            0x76,
            "garden",
        ),
        (
            "i2c=bmp280 /dev/i2c-1 0X77 roof",
            I2cChip::Bme280,
            "/dev/i2c-1",
            0x77,
            "roof",
        ),
        (
            "i2c = sht31 /dev/i2c-0 68 cellar",
            I2cChip::Sht3x,
            "/dev/i2c-0",
            0x44,
            "cellar",
        ),
        (
            "sht4x /dev/i2c-3 0x46 attic.north",
            I2cChip::Sht4x,
            "/dev/i2c-3",
            0x46,
            "attic.north",
        ),
        (
            "i2c = SHT45 /dev/i2c-1 0x44 a_b-c:1   # comment",
            I2cChip::Sht4x,
            "/dev/i2c-1",
            0x44,
            "a_b-c:1",
        ),
    ];
    for (line, chip, bus, address, name) in cases {
        assert_eq!(
            parse_i2c_line(line),
            Ok(I2cSensorConfig {
                chip,
                bus: bus.into(),
                address,
                name: name.into(),
            }),
            "{line}"
        );
    }
}

#[test]
fn i2c_line_errors_name_the_problem() {
    let cases = [
        (
            "i2c = bme280 /dev/i2c-1 0x76",
            "incomplete I2C sensor: expected `i2c = TYPE BUS ADDRESS NAME`, e.g. `i2c = bme280 /dev/i2c-1 0x76 garden`",
        ),
        (
            "i2c =",
            "incomplete I2C sensor: expected `i2c = TYPE BUS ADDRESS NAME`, e.g. `i2c = bme280 /dev/i2c-1 0x76 garden`",
        ),
        (
            "i2c = bme280 /dev/i2c-1 0x76 garden shed",
            "unexpected `shed` after the sensor name `garden`: expected `i2c = TYPE BUS ADDRESS NAME`, e.g. `i2c = bme280 /dev/i2c-1 0x76 garden`",
        ),
        (
            "i2c = bme680 /dev/i2c-1 0x76 garden",
            "unknown I2C sensor type `bme680` (known: bme280, bmp280, sht3x, sht4x)",
        ),
        (
            "i2c = bme280 i2c-1 0x76 garden",
            "I2C bus `i2c-1` is not a device path (expected e.g. /dev/i2c-1)",
        ),
        (
            "i2c = bme280 /dev/i2c-1 0x7g garden",
            "I2C address `0x7g` is not a number (expected e.g. 0x76)",
        ),
        (
            "i2c = bme280 /dev/i2c-1 0x176 garden",
            "I2C address `0x176` is not a number (expected e.g. 0x76)",
        ),
        (
            "i2c = bme280 /dev/i2c-1 0x78 garden",
            "I2C address 0x78 is outside the 7-bit device range 0x03-0x77",
        ),
        (
            "i2c = bme280 /dev/i2c-1 0x44 garden",
            "bme280 cannot be at address 0x44 (it answers at 0x76 or 0x77)",
        ),
        (
            "i2c = sht3x /dev/i2c-1 0x46 attic",
            "sht3x cannot be at address 0x46 (it answers at 0x44 or 0x45)",
        ),
        (
            "i2c = sht4x /dev/i2c-1 0x76 attic",
            "sht4x cannot be at address 0x76 (it answers at 0x44 or 0x45 or 0x46)",
        ),
        (
            "i2c = sht4x /dev/i2c-1 0x44 my\"attic",
            "sensor name `my\"attic` contains `\"` (use letters, digits, `_`, `-`, `.`, `:`)",
        ),
        (
            "i2c = sht4x /dev/i2c-1 0x44 é",
            "sensor name `é` contains `é` (use letters, digits, `_`, `-`, `.`, `:`)",
        ),
        (
            "i2c = sht4x /dev/i2c-1 0x44 abcdefghijabcdefghijabcdefghijabc",
            "sensor name `abcdefghijabcdefghijabcdefghijabc` is longer than 32 bytes",
        ),
    ];
    for (line, error) in cases {
        assert_eq!(parse_i2c_line(line), Err(error.to_owned()), "{line}");
    }
}

#[test]
fn gpio_lines_that_parse() {
    assert_eq!(
        parse_gpio_line("gpio = /dev/gpiochip0 17 door active_low"),
        Ok(GpioInputConfig {
            backend: GpioBackend::Cdev {
                chip: "/dev/gpiochip0".into()
            },
            line: 17,
            name: "door".into(),
            active_low: true,
            pull: Pull::None,
        })
    );
    assert_eq!(
        parse_gpio_line("gpio = rppal 4 button pull_down"),
        Ok(GpioInputConfig {
            backend: GpioBackend::Rppal,
            line: 4,
            name: "button".into(),
            active_low: false,
            pull: Pull::Down,
        })
    );
    let plain = parse_gpio_line("/dev/gpiochip4 0 pir # Pi 5 header chip").unwrap();
    assert_eq!(
        (plain.line, plain.active_low, plain.pull),
        (0, false, Pull::None)
    );
    assert_eq!(plain.to_string(), "/dev/gpiochip4 0 pir");
}

#[test]
fn gpio_line_errors_name_the_problem() {
    let syntax = "expected `gpio = CHIP LINE NAME [active_low]`, e.g. `gpio = /dev/gpiochip0 17 door active_low`, or `gpio = rppal BCM NAME [active_low] [pull_up|pull_down]`";
    let cases = [
        ("gpio = /dev/gpiochip0 17".to_owned(), format!("incomplete GPIO input: {syntax}")),
        ("gpio = gpiochip0 17 door".into(), "GPIO chip `gpiochip0` is neither a device path (e.g. /dev/gpiochip0) nor `rppal`".into()),
        ("gpio = /dev/gpiochip0 GPIO17 door".into(), "GPIO line `GPIO17` is not a number (the line offset, e.g. 17 for GPIO17)".into()),
        ("gpio = /dev/gpiochip0 -1 door".into(), "GPIO line `-1` is not a number (the line offset, e.g. 17 for GPIO17)".into()),
        ("gpio = rppal 54 door".into(), "rppal GPIO 54 does not exist (BCM GPIO numbers are 0-53)".into()),
        ("gpio = /dev/gpiochip0 17 door active_high".into(), "unknown GPIO option `active_high` (known: active_low, pull_up, pull_down)".into()),
        ("gpio = /dev/gpiochip0 17 door active_low active_low".into(), "`active_low` is given twice".into()),
        ("gpio = /dev/gpiochip0 17 door pull_up".into(), "`pull_up` needs the rppal backend (`gpio = rppal …`); with the character device set the pull in /boot/firmware/config.txt, e.g. `gpio=17=ip,pu`".into()),
        ("gpio = rppal 17 door pull_up pull_down".into(), "`pull_down`: the pull resistor of GPIO input `door` is already set".into()),
        ("gpio = rppal 17 front/door".into(), "input name `front/door` contains `/` (use letters, digits, `_`, `-`, `.`, `:`)".into()),
    ];
    for (line, error) in cases {
        assert_eq!(parse_gpio_line(&line), Err(error), "{line}");
    }
}

#[test]
fn duplicates_are_rejected_when_added() {
    let mut config = SensorsConfig::default();
    config
        .add_i2c(parse_i2c_line("bme280 /dev/i2c-1 0x76 garden").unwrap())
        .unwrap();
    assert_eq!(
        config.add_i2c(parse_i2c_line("sht4x /dev/i2c-1 0x44 garden").unwrap()),
        Err(
            "I2C sensor name `garden` is already used by `i2c = bme280 /dev/i2c-1 0x76 garden`"
                .into()
        )
    );
    assert_eq!(
        config.add_i2c(parse_i2c_line("bmp280 /dev/i2c-1 0x76 roof").unwrap()),
        Err(
            "/dev/i2c-1 address 0x76 is already used by `i2c = bme280 /dev/i2c-1 0x76 garden`"
                .into()
        )
    );
    // The same address on another bus is another device.
    config
        .add_i2c(parse_i2c_line("bmp280 /dev/i2c-3 0x76 roof").unwrap())
        .unwrap();

    config
        .add_gpio(parse_gpio_line("/dev/gpiochip0 17 door").unwrap())
        .unwrap();
    assert_eq!(
        config.add_gpio(parse_gpio_line("/dev/gpiochip0 17 gate").unwrap()),
        Err("GPIO line 17 is already read by `gpio = /dev/gpiochip0 17 door`".into())
    );
    assert_eq!(
        config.add_gpio(parse_gpio_line("rppal 18 door").unwrap()),
        Err("GPIO input name `door` is already used by `gpio = /dev/gpiochip0 17 door`".into())
    );
    assert_eq!((config.i2c.len(), config.gpio.len()), (2, 1));
}

#[test]
fn parsers_never_panic_on_odd_input() {
    for line in [
        "",
        "=",
        "i2c",
        "gpio",
        "i2c = = = = =",
        "\u{0}\u{7f}",
        "i2c = bme280 / 0x 0x",
        "gpio = rppal 99999999999999999999 x",
        "gpio = / 4294967295 x",
        "# only a comment",
        "i2c = sht4x /dev/i2c-1 0x44 ok ok ok ok",
    ] {
        let _ = parse_i2c_line(line);
        let _ = parse_gpio_line(line);
    }
    assert!(parse_gpio_line("gpio = /dev/gpiochip1 4294967295 x").is_ok());
}
