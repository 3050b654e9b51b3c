import { X509Certificate, createPrivateKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createCertificateAuthority } from '../../env/pki.ts';

describe('test environment PKI', () => {
  it('issues a serving certificate that its CA signed, for the names asked', async () => {
    const ca = await createCertificateAuthority('unit-ca');
    const serving = await ca.issue({
      commonName: 'kube-apiserver',
      usage: 'server',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
    });
    const caCert = new X509Certificate(ca.certPem);
    const cert = new X509Certificate(serving.certPem);

    expect(caCert.ca).toBe(true);
    expect(cert.ca).toBe(false);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkHost('example.com')).toBeUndefined();
    expect(cert.keyUsage).toContain('1.3.6.1.5.5.7.3.1'); // serverAuth
    expect(cert.checkPrivateKey(createPrivateKey(serving.keyPem))).toBe(true);
  });

  it('issues client certificates whose organizations Kubernetes reads as groups', async () => {
    const ca = await createCertificateAuthority('unit-client-ca');
    const admin = await ca.issue({
      commonName: 'admin',
      organizations: ['system:masters', 'ops'],
      usage: 'client',
    });
    const cert = new X509Certificate(admin.certPem);

    expect(cert.subject.split('\n')).toEqual(['CN=admin', 'O=system:masters', 'O=ops']);
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']); // clientAuth only
    expect(cert.verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
    const other = await createCertificateAuthority('another-ca');
    expect(cert.verify(new X509Certificate(other.certPem).publicKey)).toBe(false);
  });
});
