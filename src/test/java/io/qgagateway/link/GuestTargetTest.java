package io.qgagateway.link;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GuestTargetTest {

  @Test
  void validNameAgreesWithThePatternOfTheContract() {
    String alphabet = "aZ09._-/ é\u0000:";
    Random random = new Random(42);
    for (int i = 0; i < 200_000; i++) {
      StringBuilder name = new StringBuilder();
      int length = random.nextInt(6) == 0 ? 120 + random.nextInt(12) : random.nextInt(6);
      for (int k = 0; k < length; k++) {
        name.append(alphabet.charAt(random.nextInt(alphabet.length())));
      }
      String s = name.toString();
      assertEquals(GuestTarget.NAME.matcher(s).matches(), GuestTarget.validName(s), s);
    }
    assertTrue(GuestTarget.validName("vm-42.prod_a"));
    assertTrue(GuestTarget.validName("x".repeat(128)));
    assertFalse(GuestTarget.validName("x".repeat(129)));
    assertFalse(GuestTarget.validName("-vm"));
    assertFalse(GuestTarget.validName(""));
  }
}
