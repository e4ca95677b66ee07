package org.mlntf.decoder;

import org.junit.AfterClass;
import org.junit.runner.RunWith;
import org.junit.runners.Suite;

/** Every Java test; prints the parity achieved against Python at the end. */
@RunWith(Suite.class)
@Suite.SuiteClasses({ReferenceTablesTest.class, DecodeParityTest.class, PreprocessParityTest.class,
        DecoderUnitTest.class, TrackingParityTest.class, FramePathTest.class, FuzzTest.class})
public class AllTests {
    @AfterClass
    public static void printParity() {
        System.out.println();
        System.out.println(Parity.summary());
    }
}
