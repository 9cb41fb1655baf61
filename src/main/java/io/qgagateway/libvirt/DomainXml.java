package io.qgagateway.libvirt;

import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

import javax.xml.XMLConstants;
import javax.xml.parsers.DocumentBuilderFactory;
import java.io.StringReader;
import org.xml.sax.InputSource;

/**
 * Reads a domain's live XML for its guest-agent channel: {@code <channel><target type='virtio'
 * name='org.qemu.guest_agent.0' state='connected'/></channel>}. The {@code state} attribute is
 * libvirt's own view of the agent (whether the guest has the port open), set on running domains.
 */
public final class DomainXml {

  public static final String AGENT_PORT = "org.qemu.guest_agent.0";

  /** What the XML says of the agent channel. */
  public record AgentChannel(boolean present, boolean connected) {
    static final AgentChannel NONE = new AgentChannel(false, false);
  }

  private DomainXml() {
  }

  public static AgentChannel agentChannel(String xml) {
    try {
      DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
      factory.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
      factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
      factory.setExpandEntityReferences(false);
      Document doc = factory.newDocumentBuilder().parse(new InputSource(new StringReader(xml)));
      NodeList channels = doc.getElementsByTagName("channel");
      for (int i = 0; i < channels.getLength(); i++) {
        NodeList targets = ((Element) channels.item(i)).getElementsByTagName("target");
        for (int j = 0; j < targets.getLength(); j++) {
          Element target = (Element) targets.item(j);
          if ("virtio".equals(target.getAttribute("type"))
              && AGENT_PORT.equals(target.getAttribute("name"))) {
            return new AgentChannel(true, "connected".equals(target.getAttribute("state")));
          }
        }
      }
      return AgentChannel.NONE;
    } catch (Exception e) {
      throw new IllegalArgumentException("unreadable domain XML: " + e.getMessage(), e);
    }
  }
}
